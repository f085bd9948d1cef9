/** @jsxImportSource hono/jsx */
// The console's page shell: navigation, the signed-in tenant and its scopes, one stylesheet.
// Server-rendered: a page arrives whole (no layout shift while data loads), every control
// is a link, button or form field (usable with the keyboard), and the layout holds at 375 px.

import { raw } from "hono/html";
import type { Child, FC } from "hono/jsx";
import type { AuthContext } from "#shared/http/bindings.ts";

const css = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dde5;--bg:#f6f7f9;--accent:#2453c7;--bad:#b42318;--ok:#16794c;--warn:#9a6700}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #f5b400;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px 8px;z-index:2}
header{background:#fff;border-bottom:1px solid var(--line)}header .bar{display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center;max-width:1100px;margin:0 auto;padding:8px 16px}
header nav{display:flex;flex-wrap:wrap;gap:4px 14px}header nav a{text-decoration:none;padding:4px 0}header nav a[aria-current=page]{font-weight:600;border-bottom:2px solid var(--accent)}
.who{margin-left:auto;color:var(--muted);font-size:13px;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
main{max-width:1100px;margin:0 auto;padding:16px}h1{font-size:22px;margin:8px 0 12px}h2{font-size:17px;margin:20px 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 12px}.card b{display:block;font-size:22px}
.scroll{overflow-x:auto;background:#fff;border:1px solid var(--line);border-radius:8px}table{border-collapse:collapse;width:100%;min-width:520px}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}th{font-size:13px;color:var(--muted);font-weight:600}
.tag{display:inline-block;font-size:12px;padding:1px 7px;border-radius:10px;background:#e8ecf5;margin:1px 2px}.stale{color:var(--bad);font-weight:600}.fresh{color:var(--ok)}.muted{color:var(--muted)}
.current{background:#dff3e8;color:var(--ok)}.staged{background:#fff3cd;color:var(--warn)}.bad{color:var(--bad)}
form.inline{display:inline}button,.button{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#fff;color:var(--accent)}button.danger{background:var(--bad);border-color:var(--bad)}
label{display:block;font-weight:600;margin:10px 0 3px}input,select,textarea{font:inherit;padding:5px 8px;border:1px solid var(--line);border-radius:6px;width:100%;max-width:100%;background:#fff}
textarea{font-family:ui-monospace,Menlo,monospace;font-size:13px;min-height:9em}.field-error{color:var(--bad);font-size:13px;margin:3px 0}
.filters{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px;align-items:end;margin-bottom:12px}.filters label{margin:0;font-size:13px}
pre{background:#0f1729;color:#e6edf7;padding:10px;border-radius:8px;overflow-x:auto;font-size:13px}pre .kw{color:#7cc4ff;font-weight:600}pre .str{color:#a5e887}pre .num{color:#ffcf6e}pre .param{color:#ff9bd2}pre .com{color:#8895aa}
.timeline{list-style:none;padding:0;margin:0}.timeline li{border-left:3px solid var(--line);padding:4px 0 8px 12px}.timeline li.is-current{border-color:var(--ok)}.timeline li.is-staged{border-color:var(--warn)}
.diff{display:grid;grid-template-columns:1fr 1fr;gap:8px;border:0;padding:0;margin:0;min-width:0}.diff>div{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px;overflow-x:auto;min-width:0}.diff .changed{background:#fff3cd}
.progress{height:12px;background:#e8ecf5;border-radius:6px;overflow:hidden}.progress>span{display:block;height:100%;background:var(--accent)}
.notice{padding:8px 12px;border-radius:8px;background:#fff;border:1px solid var(--line);margin:8px 0}.notice.error{border-color:var(--bad);color:var(--bad)}
svg.chart{width:100%;max-width:520px;height:140px;display:block;background:#fff;border:1px solid var(--line);border-radius:8px}
@media (max-width:600px){.diff{grid-template-columns:1fr}main{padding:10px}}
`;

// Focuses a field the server marked (a 422 with a SQL position selects that character).
const focusScript = `document.querySelectorAll('[data-error-position]').forEach(function(t){var p=Math.max(0,+t.dataset.errorPosition-1);t.focus();t.setSelectionRange(p,p+1)});`;

const pages = [
  ["overview", "/console", "Overview"],
  ["features", "/console/features", "Features"],
  ["jobs", "/console/jobs", "Jobs"],
  ["health", "/console/health", "Serving health"],
] as const;

export const Layout: FC<{ title: string; auth?: AuthContext; active?: string; children?: Child }> = (props) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{props.title} · Feature store console</title>
      <style>{raw(css)}</style>
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <div class="bar">
          <strong>Feature store</strong>
          {props.auth && (
            <nav aria-label="Console">
              {pages.map(([id, href, label]) => (
                <a href={href} aria-current={props.active === id ? "page" : undefined}>
                  {label}
                </a>
              ))}
            </nav>
          )}
          {props.auth && (
            <div class="who">
              <span title="tenant">{props.auth.tenantId}</span>
              <span>{[...props.auth.scopes].sort().join(" ") || "no scopes"}</span>
              <form class="inline" method="post" action="/console/sign-out">
                <button class="secondary" type="submit">
                  Sign out
                </button>
              </form>
            </div>
          )}
        </div>
      </header>
      <main id="main">{props.children}</main>
      <script>{raw(focusScript)}</script>
    </body>
  </html>
);

export const Notice: FC<{ error?: boolean; children?: Child }> = ({ error, children }) => (
  <div class={error ? "notice error" : "notice"} role={error ? "alert" : "status"}>
    {children}
  </div>
);

export function ago(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
