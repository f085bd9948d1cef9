// Tenant JWTs (DESIGN.md): HS256 with JWT_SECRET, or RS256/ES256 from JWKS_URL. The
// tenant comes only from the verified `tenant_id` claim, never from the request body.
import type { MiddlewareHandler } from "hono";
import * as jose from "jose";
import { z } from "zod";
import { authEnv, parseEnv } from "#shared/env.ts";
import type { AppBindings, AuthContext } from "./bindings.ts";
import { AppError } from "./errors.ts";

export const scopes = ["features:read", "features:write", "registry:read", "registry:write", "jobs:write"] as const;
export type Scope = (typeof scopes)[number];

const claimsSchema = z.object({
  tenant_id: z.uuid(),
  exp: z.number(),
  sub: z.string().max(256).optional(),
  scope: z.string().max(4096).optional(),
});

const asymmetric = ["RS256", "ES256"];
// createRemoteJWKSet caches keys and refetches on unknown `kid`; keep one per URL per isolate.
const keySets = new Map<string, ReturnType<typeof jose.createRemoteJWKSet>>();
// Importing the HMAC key costs as much as verifying: do it once per secret per isolate.
const secrets = new Map<string, Promise<CryptoKey>>();

function unauthorized(reason: string): AppError {
  return new AppError("UNAUTHORIZED", reason);
}

export async function verifyToken(
  token: string,
  config: { secret?: string; jwksUrl?: string; issuer?: string; audience?: string },
): Promise<AuthContext> {
  let header: jose.ProtectedHeaderParameters;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch {
    throw unauthorized("malformed token");
  }
  const options: jose.JWTVerifyOptions = { requiredClaims: ["exp"] };
  if (config.issuer) options.issuer = config.issuer;
  if (config.audience) options.audience = config.audience;
  let payload: jose.JWTPayload;
  try {
    if (header.alg === "HS256" && config.secret) {
      let key = secrets.get(config.secret);
      if (!key) {
        key = crypto.subtle.importKey(
          "raw",
          new TextEncoder().encode(config.secret),
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["verify"],
        );
        secrets.set(config.secret, key);
      }
      ({ payload } = await jose.jwtVerify(token, await key, { ...options, algorithms: ["HS256"] }));
    } else if (header.alg && asymmetric.includes(header.alg) && config.jwksUrl) {
      let keySet = keySets.get(config.jwksUrl);
      if (!keySet) {
        keySet = jose.createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 3000 });
        keySets.set(config.jwksUrl, keySet);
      }
      ({ payload } = await jose.jwtVerify(token, keySet, { ...options, algorithms: asymmetric }));
    } else {
      throw unauthorized(`token algorithm ${JSON.stringify(header.alg ?? null)} is not accepted`);
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    if (error instanceof jose.errors.JWTExpired) throw unauthorized("token expired");
    if (error instanceof jose.errors.JWTClaimValidationFailed) {
      throw unauthorized(`token claim ${error.claim} is invalid: ${error.reason}`);
    }
    if (error instanceof jose.errors.JWKSTimeout || error instanceof jose.errors.JOSEError) {
      throw unauthorized(
        error instanceof jose.errors.JWSSignatureVerificationFailed ? "bad signature" : "invalid token",
      );
    }
    throw unauthorized("invalid token");
  }
  const claims = claimsSchema.safeParse(payload);
  if (!claims.success) {
    const missing = claims.error.issues.map((i) => i.path.join(".")).join(", ");
    throw unauthorized(`token claims invalid: ${missing}`);
  }
  return {
    tenantId: claims.data.tenant_id.toLowerCase(),
    subject: claims.data.sub ?? null,
    scopes: new Set((claims.data.scope ?? "").split(" ").filter(Boolean)),
  };
}

// Edge apps send the same token with many requests: a verified token is remembered until
// it expires (or 5 minutes), per isolate and per verification config, so the hot path
// skips the signature check. Only successful verifications are cached.
const verified = new Map<string, { auth: AuthContext; until: number }>();
const maxVerified = 10_000;

async function verifyCached(token: string, config: Parameters<typeof verifyToken>[1]): Promise<AuthContext> {
  const key = `${config.secret ?? ""}\u0000${config.jwksUrl ?? ""}\u0000${config.issuer ?? ""}\u0000${config.audience ?? ""}\u0000${token}`;
  const hit = verified.get(key);
  const now = Date.now();
  if (hit && hit.until > now) return hit.auth;
  const auth = await verifyToken(token, config);
  const exp = (jose.decodeJwt(token).exp ?? 0) * 1000;
  if (verified.size >= maxVerified) verified.delete(verified.keys().next().value as string);
  verified.set(key, { auth, until: Math.min(exp, now + 300_000) });
  return auth;
}

/** A JWT verified with a worker's settings (JWT_SECRET, JWKS_URL, issuer, audience). */
export function verifyWorkerToken(workerEnv: object, token: string): Promise<AuthContext> {
  const env = parseEnv(workerEnv, authEnv);
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(token))
    return Promise.reject(unauthorized("malformed token"));
  return verifyCached(token, {
    secret: env.JWT_SECRET,
    jwksUrl: env.JWKS_URL,
    issuer: env.JWT_ISSUER,
    audience: env.JWT_AUDIENCE,
  });
}

/** Verifies `Authorization: Bearer <jwt>` and puts the AuthContext on the request. */
export function authenticate(): MiddlewareHandler<AppBindings> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    if (!header) throw unauthorized("missing Authorization header");
    // The scheme is case-insensitive (RFC 9110 §11.1), followed by one or more spaces.
    const match = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i.exec(header);
    if (!match?.[1]) throw unauthorized("Authorization must be 'Bearer <jwt>'");
    c.set("auth", await verifyWorkerToken(c.env, match[1]));
    await next();
  };
}

/** 403 unless the verified token carries `scope`. */
export function requireScope(scope: Scope): MiddlewareHandler<AppBindings> {
  return async (c, next) => {
    const auth = c.get("auth");
    if (!auth) throw unauthorized("not authenticated");
    if (!auth.scopes.has(scope)) throw new AppError("FORBIDDEN", `this route needs the scope '${scope}'`);
    await next();
  };
}
