// Console sign-in: the admin pastes a tenant JWT (or follows the link `npm start` prints,
// which carries it in the URL fragment, never sent to a server log). The token is kept in
// an HttpOnly, SameSite=Strict cookie scoped to /console and verified on every request like
// a Bearer token: same keys, expiry, scopes. POSTs must come from the console's own origin
// (hono/csrf), and the cookie never leaves for another site.
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import * as jose from "jose";
import { verifyWorkerToken } from "#shared/http/auth.ts";
import type { AppBindings, AuthContext } from "#shared/http/bindings.ts";

export const cookieName = "fs_console";
export const consolePath = "/console";

export async function signIn(c: Context<AppBindings>, token: string): Promise<AuthContext> {
  const auth = await verifyWorkerToken(c.env, token);
  const exp = jose.decodeJwt(token).exp ?? 0;
  setCookie(c, cookieName, token, {
    path: consolePath,
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(c.req.url).protocol === "https:",
    maxAge: Math.max(1, exp - Math.floor(Date.now() / 1000)),
  });
  return auth;
}

export function signOut(c: Context<AppBindings>): void {
  deleteCookie(c, cookieName, { path: consolePath });
}

/** Pages behind it see the signed-in tenant as `auth`; without a valid cookie, the sign-in page. */
export function consoleSession(): MiddlewareHandler<AppBindings> {
  return async (c, next) => {
    const token = getCookie(c, cookieName);
    if (!token) return c.redirect(`${consolePath}/sign-in`, 303);
    try {
      c.set("auth", await verifyWorkerToken(c.env, token));
    } catch {
      signOut(c);
      return c.redirect(`${consolePath}/sign-in?expired=1`, 303);
    }
    await next();
  };
}

export const can = (auth: AuthContext, scope: string) => auth.scopes.has(scope);
