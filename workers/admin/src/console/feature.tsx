/** @jsxImportSource hono/jsx */
// One feature: its definition, versions as a timeline (current and staged marked), a
// side-by-side diff of any two versions, promotion of a staged version, stats per version
// with a histogram, and its transformation SQL with the source tables it reads (lineage).
import type { FC } from "hono/jsx";
import type { AuthContext } from "#shared/http/bindings.ts";
import type { FeatureDefinition, FeatureVersion } from "#shared/registry/schemas.ts";
import { Layout } from "./layout.tsx";
import { can } from "./session.ts";
import { SqlBlock, sourceTables } from "./sql.tsx";

const shownFields = [
  "displayName",
  "description",
  "dataType",
  "embeddingDimension",
  "sourceType",
  "aggregationType",
  "windowSizeSeconds",
  "aggregationIntervalSeconds",
  "validationRules",
  "sourceConfig",
  "transformationSql",
  "status",
  "tags",
] as const;

const show = (v: unknown) => (v === null || v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));

const Histogram: FC<{ histogram: Record<string, number> }> = ({ histogram }) => {
  const bars = Object.entries(histogram);
  const max = Math.max(1, ...bars.map(([, n]) => n));
  const width = 500 / Math.max(1, bars.length);
  return (
    <svg
      class="chart"
      viewBox="0 0 520 140"
      role="img"
      aria-label={`Histogram: ${bars.map(([b, n]) => `${b}: ${n}`).join(", ")}`}
    >
      {bars.map(([bucket, n], i) => {
        const h = (n / max) * 100;
        return (
          <g>
            <rect x={10 + i * width} y={110 - h} width={Math.max(1, width - 2)} height={h} fill="#2453c7">
              <title>
                {bucket}: {n}
              </title>
            </rect>
            {(bars.length <= 12 || i % Math.ceil(bars.length / 12) === 0) && (
              <text x={10 + i * width} y={128} font-size="10" fill="#5b6475">
                {bucket.length > 8 ? `${bucket.slice(0, 8)}…` : bucket}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
};

export const FeaturePage: FC<{
  auth: AuthContext;
  feature: FeatureDefinition;
  groupName: string;
  versions: FeatureVersion[];
  diff?: { from: FeatureVersion; to: FeatureVersion };
  notice?: string;
}> = ({ auth, feature, groupName, versions, diff, notice }) => {
  const ref = `${groupName}.${feature.name}`;
  const writable = can(auth, "registry:write");
  const tables = feature.transformationSql ? sourceTables(feature.transformationSql) : [];
  const [newest, previous] = versions;
  const from = diff?.from.version ?? previous?.version ?? newest?.version;
  const to = diff?.to.version ?? newest?.version;
  return (
    <Layout title={ref} auth={auth} active="features">
      <p>
        <a href="/console/features">Features</a> / {groupName}
      </p>
      <h1>{ref}</h1>
      {notice && (
        <div class="notice" role="status">
          {notice}
        </div>
      )}
      <p>
        {feature.displayName} · {feature.dataType} · {feature.sourceType} · reads answer{" "}
        <span class="tag current">v{feature.currentVersion}</span>
        {feature.stagedVersion && <span class="tag staged">v{feature.stagedVersion} staged</span>}
        {feature.status !== "active" && <span class="tag">{feature.status}</span>}
      </p>
      {writable && (
        <p>
          <a class="button secondary" href={`/console/features/${ref}/edit`}>
            Edit
          </a>{" "}
          {feature.status !== "archived" && (
            <form class="inline" method="post" action={`/console/features/${ref}/archive`}>
              <button class="danger" type="submit">
                Archive
              </button>
            </form>
          )}
        </p>
      )}
      <h2>Definition (v{feature.version})</h2>
      <div class="scroll">
        <table>
          <tbody>
            {shownFields
              .filter((f) => f !== "transformationSql")
              .map((field) => (
                <tr>
                  <th scope="row">{field}</th>
                  <td>{show(feature[field])}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </div>
      {feature.transformationSql && (
        <section aria-labelledby="sql">
          <h2 id="sql">Transformation and lineage</h2>
          <p>
            Reads:{" "}
            {tables.length ? tables.map((t) => <span class="tag">{t}</span>) : <span class="muted">no table</span>}
            {" → "}
            <span class="tag">{ref}</span>
          </p>
          <SqlBlock sql={feature.transformationSql} />
        </section>
      )}
      <h2>Versions</h2>
      <ol class="timeline" reversed>
        {versions.map((v) => {
          const isCurrent = v.version === feature.currentVersion;
          const isStaged = v.version === feature.stagedVersion;
          return (
            <li class={isCurrent ? "is-current" : isStaged ? "is-staged" : undefined}>
              <strong>v{v.version}</strong> {isCurrent && <span class="tag current">current</span>}
              {isStaged && <span class="tag staged">staged</span>} <span class="muted">{v.createdAt}</span>{" "}
              {v.changelog}
              {writable && !isCurrent && (
                <form class="inline" method="post" action={`/console/features/${ref}/versions/${v.version}/promote`}>
                  {" "}
                  <button type="submit" class="secondary">
                    Promote v{v.version}
                  </button>
                </form>
              )}
              {v.stats ? (
                <details open={isCurrent}>
                  <summary>
                    Stats: {v.stats.count ?? "?"} values, mean {show(v.stats.mean)}, null rate {show(v.stats.nullRate)}
                  </summary>
                  {v.stats.histogram && Object.keys(v.stats.histogram).length > 0 && (
                    <Histogram histogram={v.stats.histogram} />
                  )}
                  <p class="muted">
                    min {show(v.stats.min)} · max {show(v.stats.max)} · std {show(v.stats.std)} · distinct{" "}
                    {show(v.stats.uniqueCount)} · computed {show(v.stats.computedAt)}
                  </p>
                </details>
              ) : (
                <div class="muted">No stats yet (a materialization computes them).</div>
              )}
            </li>
          );
        })}
      </ol>
      {versions.length > 1 && (
        <section aria-labelledby="diff">
          <h2 id="diff">Compare versions</h2>
          <form class="filters" method="get" action={`/console/features/${ref}`}>
            <div>
              <label for="from">From</label>
              <select id="from" name="from">
                {versions.map((v) => (
                  <option value={v.version} selected={v.version === from}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </div>
            <div>
              <label for="to">To</label>
              <select id="to" name="to">
                {versions.map((v) => (
                  <option value={v.version} selected={v.version === to}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </div>
            <div>
              <button type="submit">Compare</button>
            </div>
          </form>
          {diff && (
            <fieldset class="diff" aria-label={`v${diff.from.version} and v${diff.to.version} side by side`}>
              {[diff.from, diff.to].map((v) => (
                <div>
                  <strong>v{v.version}</strong>
                  <table style="min-width:0">
                    <tbody>
                      {shownFields.map((field) => {
                        const changed =
                          JSON.stringify(diff.from.definitionSnapshot[field] ?? null) !==
                          JSON.stringify(diff.to.definitionSnapshot[field] ?? null);
                        return (
                          <tr class={changed ? "changed" : undefined}>
                            <th scope="row">{field}</th>
                            <td style="white-space:pre-wrap;word-break:break-word">
                              {show(v.definitionSnapshot[field])}
                            </td>
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                </div>
              ))}
            </fieldset>
          )}
        </section>
      )}
    </Layout>
  );
};
