// What a request carries through the Hono app of every worker: the request id and, on
// authenticated routes, the verified token's tenant and scopes.
export interface AuthContext {
  tenantId: string;
  /** The acting user or service (`sub`), stored as created_by. */
  subject: string | null;
  scopes: ReadonlySet<string>;
}

export interface AppBindings {
  Bindings: Record<string, unknown>;
  Variables: { requestId: string; auth: AuthContext };
}
