/** @jsxImportSource hono/jsx */
// Transformation SQL as the console shows it: highlighted (keywords, strings, numbers,
// :start_time / :end_time parameters, comments) and with its lineage, the tables it reads
// (the names after FROM and JOIN).
import type { FC } from "hono/jsx";

const keywords = new Set(
  `select from where and or not group by order having join left right inner outer full cross on as with case when then else end
   distinct count sum avg min max coalesce nullif interval now limit offset union all in is null between like ilike exists
   within desc asc over partition filter true false cast date lateral using`
    .split(/\s+/)
    .filter(Boolean),
);

type Token = { kind: "kw" | "str" | "num" | "param" | "com" | "ident" | "other"; text: string };

const pattern =
  /(--[^\n]*|\/\*[\s\S]*?\*\/)|('(?:[^']|'')*')|(:[A-Za-z_]\w*)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][\w$]*)|(\s+|[^\sA-Za-z_\d'])/g;

export function tokenize(sqlText: string): Token[] {
  const tokens: Token[] = [];
  for (const m of sqlText.matchAll(pattern)) {
    if (m[1]) tokens.push({ kind: "com", text: m[1] });
    else if (m[2]) tokens.push({ kind: "str", text: m[2] });
    else if (m[3]) tokens.push({ kind: "param", text: m[3] });
    else if (m[4]) tokens.push({ kind: "num", text: m[4] });
    else if (m[5]) tokens.push({ kind: keywords.has(m[5].toLowerCase()) ? "kw" : "ident", text: m[5] });
    else tokens.push({ kind: "other", text: m[0] });
  }
  return tokens;
}

/** The tables a transformation reads: each name right after FROM or JOIN, in order, once. */
export function sourceTables(sqlText: string): string[] {
  const tables: string[] = [];
  let expectTable = false;
  for (const token of tokenize(sqlText)) {
    if (token.kind === "com" || (token.kind === "other" && !token.text.trim())) continue;
    if (token.kind === "kw" && /^(from|join)$/i.test(token.text)) {
      expectTable = true;
      continue;
    }
    if (expectTable && token.kind === "ident" && !tables.includes(token.text.toLowerCase()))
      tables.push(token.text.toLowerCase());
    expectTable = false;
  }
  return tables;
}

export const SqlBlock: FC<{ sql: string }> = ({ sql }) => (
  <pre>
    <code>
      {tokenize(sql).map((t) =>
        t.kind === "ident" || t.kind === "other" ? t.text : <span class={t.kind}>{t.text}</span>,
      )}
    </code>
  </pre>
);
