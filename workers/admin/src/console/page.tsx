/** @jsxImportSource hono/jsx */
// What every console page handler shares: errors as pages (404 for another tenant's ids),
// scope checks, whole lists of groups and features, and the save flow of a form (check,
// save, redirect; or the form again with each problem in place).
import type { Context } from "hono";
import type { FC } from "hono/jsx";
import type { z } from "zod";
import type { TenantContext } from "#shared/db/tenant.ts";
import type { AppBindings, AuthContext } from "#shared/http/bindings.ts";
import { AppError, issuesToDetails } from "#shared/http/errors.ts";
import { tenantContext } from "#shared/http/tenant-context.ts";
import { listFeatures } from "#shared/registry/features.ts";
import { listGroups } from "#shared/registry/groups.ts";
import type { FeatureDefinition, FeatureGroup } from "#shared/registry/schemas.ts";
import { type Problem, problemsByField } from "./form-values.ts";
import { Layout } from "./layout.tsx";

export type C = Context<AppBindings>;
export const param = (c: C, name: string) => c.req.param(name) ?? "";
export const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const ErrorPage: FC<{ auth?: AuthContext; status: number; message: string }> = (p) => (
  <Layout title={p.status === 404 ? "Not found" : "Error"} auth={p.auth}>
    <h1>{p.status === 404 ? "Not found" : p.status === 403 ? "Not allowed" : "Something went wrong"}</h1>
    <p role="alert">{p.message}</p>
    <p>
      <a href="/console">Back to the overview</a>
    </p>
  </Layout>
);

/** A page handler whose AppErrors render as a page with their status. */
export function page(handler: (c: C, ctx: TenantContext, auth: AuthContext) => Promise<Response>) {
  return async (c: C) => {
    const auth = c.get("auth");
    try {
      return await handler(c, tenantContext(c), auth);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      return c.html(<ErrorPage auth={auth} status={error.status} message={error.message} />, error.status);
    }
  };
}

export function need(auth: AuthContext, scope: string) {
  if (!auth.scopes.has(scope))
    throw new AppError("FORBIDDEN", `This needs the scope '${scope}', which your token lacks.`);
}

async function everyPage<T>(
  load: (cursor?: string) => Promise<{ items: T[]; nextCursor: string | null }>,
  cap: number,
) {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const next = await load(cursor);
    items.push(...next.items);
    cursor = next.nextCursor ?? undefined;
  } while (cursor && items.length < cap);
  return items;
}

export async function allGroups(ctx: TenantContext): Promise<FeatureGroup[]> {
  const groups = await everyPage((cursor) => listGroups(ctx, { limit: 200, cursor }), 2000);
  return groups.sort((a, b) => a.name.localeCompare(b.name));
}

export function allFeatures(ctx: TenantContext): Promise<FeatureDefinition[]> {
  return everyPage((cursor) => listFeatures(ctx, { limit: 200, cursor }), 5000);
}

export interface Failure {
  status: number;
  problems: Problem[];
  message: string;
}

/** A refused save as problems for the form; a 404 or a 5xx is not the form's to show. */
export function failureOf(error: unknown): Failure {
  if (!(error instanceof AppError) || error.status >= 500 || error.status === 404) throw error;
  const details = Array.isArray(error.details) ? (error.details as Problem[]) : [];
  return {
    status: error.status,
    message: error.message,
    problems: details.length ? details : [{ path: "(root)", message: error.message }],
  };
}

/** What a form shows of a failure: problems by field, and the banner. */
export function formState(failure?: Failure) {
  return {
    problems: problemsByField(failure?.problems ?? []),
    error: failure ? `Not saved: ${failure.message}` : undefined,
  };
}

/**
 * The save of a form: the body checked by the API's schema, then saved; a redirect to the
 * place `save` names, or the form again (`render`) with the problems in place.
 */
export async function saveForm<S extends z.ZodType>(
  c: C,
  options: {
    schema: S;
    body: unknown;
    problems?: Problem[];
    render: (failure: Failure) => Response | Promise<Response>;
    save: (input: z.output<S>) => Promise<string>;
  },
): Promise<Response> {
  const parsed = options.schema.safeParse(options.body);
  const problems = [...(options.problems ?? []), ...(parsed.success ? [] : issuesToDetails(parsed.error.issues))];
  if (problems.length || !parsed.success)
    return options.render({ status: 400, problems, message: "some fields are not valid" });
  let location: string;
  try {
    location = await options.save(parsed.data as z.output<S>);
  } catch (error) {
    return options.render(failureOf(error));
  }
  return c.redirect(location, 303);
}
