/** @jsxImportSource hono/jsx */
// The sign-in page: paste a tenant JWT. A link of the form /console/sign-in#token=<jwt>
// (what `npm start` prints) fills the field and submits it, then drops the fragment.

import { raw } from "hono/html";
import type { FC } from "hono/jsx";
import { Layout, Notice } from "./layout.tsx";

const fromFragment = `(function(){var m=/^#token=([A-Za-z0-9_.-]+)$/.exec(location.hash);if(!m)return;history.replaceState(null,'',location.pathname);var f=document.getElementById('sign-in');f.elements.token.value=m[1];f.submit()})();`;

export const SignInPage: FC<{ error?: string; expired?: boolean }> = ({ error, expired }) => (
  <Layout title="Sign in">
    <h1>Sign in</h1>
    {expired && <Notice>The session ended (the token expired or was replaced). Sign in again.</Notice>}
    {error && <Notice error>{error}</Notice>}
    <form id="sign-in" method="post" action="/console/sign-in">
      <label for="token">Tenant token (JWT)</label>
      <textarea id="token" name="token" required rows={4} autocomplete="off" spellcheck={false} />
      <p class="muted">
        The scopes of the token decide what you can do here: <code>registry:read</code> to browse,{" "}
        <code>registry:write</code> to edit, <code>jobs:write</code> to run jobs.
      </p>
      <button type="submit">Sign in</button>
    </form>
    <script>{raw(fromFragment)}</script>
  </Layout>
);
