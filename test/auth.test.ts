// JWT verification and scopes, through the same middleware every worker mounts.
import { env } from "cloudflare:workers";
import * as jose from "jose";
import { describe, expect, inject, it } from "vitest";
import { signToken } from "#harness/tokens.ts";
import { servingEnv } from "#shared/env.ts";
import { createWorkerApp } from "#shared/http/app.ts";
import { authenticate, requireScope } from "#shared/http/auth.ts";

const app = createWorkerApp({ service: "test", env: servingEnv });
app.use("/protected/*", authenticate());
app.get("/protected/read", requireScope("registry:read"), (c) => {
  const auth = c.get("auth");
  return c.json({ tenantId: auth.tenantId, subject: auth.subject, scopes: [...auth.scopes] });
});

const tenantId = crypto.randomUUID();

async function call(headers: Record<string, string>, bindings: Record<string, unknown> = env) {
  const response = await app.request("/protected/read", { headers }, bindings);
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

function expectEnvelope(body: Record<string, any>, code: string) {
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.requestId).toMatch(/.+/);
  expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/); // no stack traces
}

describe("JWT authentication", () => {
  it("accepts a valid HS256 token and exposes tenant, subject and scopes", async () => {
    const token = await signToken({ tenantId, scopes: ["registry:read"], sub: "user-1" });
    const { status, body } = await call({ authorization: `Bearer ${token}` });
    expect(status).toBe(200);
    expect(body).toEqual({ tenantId, subject: "user-1", scopes: ["registry:read"] });
  });

  it.each(["bearer", "BEARER", "bEaReR", "Bearer  "])("takes the scheme in any case (RFC 9110): %j", async (scheme) => {
    const token = await signToken({ tenantId, scopes: ["registry:read"] });
    const { status, body } = await call({
      authorization: `${scheme.trim()}${scheme.endsWith("  ") ? "  " : " "}${token}`,
    });
    expect(status).toBe(200);
    expect(body.tenantId).toBe(tenantId);
  });

  it("still refuses another scheme or a missing space", async () => {
    const token = await signToken({ tenantId, scopes: ["registry:read"] });
    expectEnvelope((await call({ authorization: `Basic ${token}` })).body, "UNAUTHORIZED");
    expectEnvelope((await call({ authorization: `Bearer${token}` })).body, "UNAUTHORIZED");
  });

  it.each(["RS256", "ES256"] as const)("accepts a valid %s token from the JWKS", async (alg) => {
    const token = await signToken({ tenantId, scopes: ["registry:read"], alg });
    const { status, body } = await call({ authorization: `Bearer ${token}` });
    expect(status).toBe(200);
    expect(body.tenantId).toBe(tenantId);
  });

  it("rejects a request without a token", async () => {
    const { status, body } = await call({});
    expect(status).toBe(401);
    expectEnvelope(body, "UNAUTHORIZED");
  });

  it("rejects an expired token", async () => {
    const token = await signToken({ tenantId, scopes: ["registry:read"], expiresIn: -120 });
    const { status, body } = await call({ authorization: `Bearer ${token}` });
    expect(status).toBe(401);
    expectEnvelope(body, "UNAUTHORIZED");
    expect(body.error.message).toMatch(/expired/);
  });

  it("rejects a token signed with another secret", async () => {
    const forged = await new jose.SignJWT({ tenant_id: tenantId, scope: "registry:read" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode("another-secret-that-is-32-bytes-or-more"));
    const { status, body } = await call({ authorization: `Bearer ${forged}` });
    expect(status).toBe(401);
    expectEnvelope(body, "UNAUTHORIZED");
  });

  it("rejects a token whose signature was tampered with", async () => {
    const token = await signToken({ tenantId, scopes: ["registry:read"] });
    const [header, payload] = token.split(".");
    const otherTenant = btoa(
      JSON.stringify({
        ...JSON.parse(atob(payload!.replace(/-/g, "+").replace(/_/g, "/"))),
        tenant_id: crypto.randomUUID(),
      }),
    )
      .replace(/=+$/, "")
      .replace(/\+/g, "-")
      .replace(/\//g, "_");
    const { status } = await call({ authorization: `Bearer ${header}.${otherTenant}.${token.split(".")[2]}` });
    expect(status).toBe(401);
  });

  it("rejects alg: none", async () => {
    const unsecured = new jose.UnsecuredJWT({ tenant_id: tenantId, scope: "registry:read" })
      .setExpirationTime("10m")
      .encode();
    const { status, body } = await call({ authorization: `Bearer ${unsecured}` });
    expect(status).toBe(401);
    expectEnvelope(body, "UNAUTHORIZED");
  });

  it("rejects an HS256 token when only asymmetric keys would do (algorithm confusion)", async () => {
    // Signed with the *public* RSA key material as an HMAC secret: must never verify.
    const keys = inject("signingKeys");
    const forged = await new jose.SignJWT({ tenant_id: tenantId, scope: "registry:read" })
      .setProtectedHeader({ alg: "HS256", kid: "test-rs256" })
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode(JSON.stringify({ kty: keys.rs256.kty, n: keys.rs256.n, e: keys.rs256.e })));
    const { status } = await call({ authorization: `Bearer ${forged}` });
    expect(status).toBe(401);
  });

  it("rejects a token without tenant_id", async () => {
    const token = await new jose.SignJWT({ scope: "registry:read" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode(inject("jwtSecret")));
    const { status, body } = await call({ authorization: `Bearer ${token}` });
    expect(status).toBe(401);
    expectEnvelope(body, "UNAUTHORIZED");
    expect(body.error.message).toMatch(/tenant_id/);
  });

  it("rejects a tenant_id that is not a uuid", async () => {
    const token = await signToken({ tenantId: "tenant-a' OR 1=1", scopes: ["registry:read"] });
    const { status } = await call({ authorization: `Bearer ${token}` });
    expect(status).toBe(401);
  });

  it("rejects a token without exp", async () => {
    const token = await new jose.SignJWT({ tenant_id: tenantId, scope: "registry:read" })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(inject("jwtSecret")));
    const { status } = await call({ authorization: `Bearer ${token}` });
    expect(status).toBe(401);
  });

  it.each([
    ["a non-bearer scheme", "Basic dXNlcjpwYXNz"],
    ["a bearer without a token", "Bearer "],
    ["a token that is not a JWT", "Bearer not-a-jwt"],
    ["a JWT with a garbage header", "Bearer e30x.e30.sig"],
    ["two tokens", "Bearer a.b.c d.e.f"],
  ])("rejects %s with 401", async (_label, authorization) => {
    const { status, body } = await call({ authorization });
    expect(status).toBe(401);
    expectEnvelope(body, "UNAUTHORIZED");
  });

  it("checks iss and aud when configured", async () => {
    const bindings = { ...env, JWT_ISSUER: "https://issuer.example", JWT_AUDIENCE: "feature-store" };
    const wrong = await signToken({
      tenantId,
      scopes: ["registry:read"],
      extraClaims: { iss: "https://evil.example", aud: "feature-store" },
    });
    expect((await call({ authorization: `Bearer ${wrong}` }, bindings)).status).toBe(401);
    const right = await signToken({
      tenantId,
      scopes: ["registry:read"],
      extraClaims: { iss: "https://issuer.example", aud: "feature-store" },
    });
    expect((await call({ authorization: `Bearer ${right}` }, bindings)).status).toBe(200);
  });
});

describe("scopes", () => {
  it("answers 403 with the envelope when the scope is missing", async () => {
    const token = await signToken({ tenantId, scopes: ["features:read", "registry:write"] });
    const { status, body } = await call({ authorization: `Bearer ${token}` });
    expect(status).toBe(403);
    expectEnvelope(body, "FORBIDDEN");
    expect(body.error.message).toMatch(/registry:read/);
  });

  it("does not match scopes by prefix", async () => {
    const token = await signToken({ tenantId, scopes: ["registry:readonly", "registry"] });
    expect((await call({ authorization: `Bearer ${token}` })).status).toBe(403);
  });
});
