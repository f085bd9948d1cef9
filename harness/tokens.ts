// Signs tenant JWTs for tests with the keys global-setup.ts configured.
import * as jose from "jose";
import { inject } from "vitest";
import type { Scope } from "#shared/http/auth.ts";

export interface TokenOptions {
  tenantId: string;
  scopes?: readonly (Scope | string)[];
  sub?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  alg?: "HS256" | "RS256" | "ES256";
  extraClaims?: Record<string, unknown>;
}

export async function signToken(options: TokenOptions): Promise<string> {
  const alg = options.alg ?? "HS256";
  const claims: Record<string, unknown> = { tenant_id: options.tenantId, ...options.extraClaims };
  if (options.scopes) claims.scope = options.scopes.join(" ");
  const jwt = new jose.SignJWT(claims)
    .setProtectedHeader({ alg, ...(alg === "HS256" ? {} : { kid: alg === "RS256" ? "test-rs256" : "test-es256" }) })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresIn ?? 600));
  if (options.sub) jwt.setSubject(options.sub);
  if (alg === "HS256") return jwt.sign(new TextEncoder().encode(inject("jwtSecret")));
  const keys = inject("signingKeys");
  const key = await jose.importJWK(alg === "RS256" ? keys.rs256 : keys.es256, alg);
  return jwt.sign(key);
}

export const allScopes: Scope[] = ["features:read", "features:write", "registry:read", "registry:write", "jobs:write"];

export async function bearer(options: TokenOptions): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await signToken(options)}` };
}
