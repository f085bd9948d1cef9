/** @jsxImportSource hono/jsx */
// Serving health over the last hour: per route, reads answered from Redis, from Postgres,
// after a fallback, and answers rejected, unavailable (503) or failed.
import type { FC } from "hono/jsx";
import type { AuthContext } from "#shared/http/bindings.ts";
import type { ServingHealth } from "#shared/metrics/serving-health.ts";
import { Layout, Notice } from "./layout.tsx";

const Sparkline: FC<{ values: number[] }> = ({ values }) => {
  const max = Math.max(1, ...values);
  const points = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * 500 + 10},${110 - (v / max) * 100}`);
  return (
    <svg class="chart" viewBox="0 0 520 140" role="img" aria-label={`Requests per minute, last hour, peak ${max}`}>
      <polyline points={points.join(" ")} fill="none" stroke="#2453c7" stroke-width="2" />
      <text x="10" y="130" font-size="11" fill="#5b6475">
        60 min ago
      </text>
      <text x="470" y="130" font-size="11" fill="#5b6475">
        now
      </text>
    </svg>
  );
};

const pct = (n: number, of: number) => (of ? `${Math.round((n / of) * 100)}%` : "—");

export const HealthPage: FC<{ auth: AuthContext; health: ServingHealth }> = ({ auth, health }) => (
  <Layout title="Serving health" auth={auth} active="health">
    <h1>Serving health (last hour)</h1>
    {health.store === "disabled" && (
      <Notice>Redis is not configured: the serving worker has nowhere to count its requests.</Notice>
    )}
    <Sparkline values={health.perMinute} />
    <p class="muted">
      Counted by the serving worker after each answer and written at most every 10 s per isolate, so the newest requests
      appear within seconds.
    </p>
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">Route</th>
            <th scope="col">Requests</th>
            <th scope="col">From Redis</th>
            <th scope="col">From Postgres</th>
            <th scope="col">Fallbacks</th>
            <th scope="col">Rejected (4xx)</th>
            <th scope="col">Unavailable (503)</th>
            <th scope="col">Errors (5xx)</th>
          </tr>
        </thead>
        <tbody>
          {health.routes.length === 0 && (
            <tr>
              <td colspan={8} class="muted">
                No requests in the last hour.
              </td>
            </tr>
          )}
          {health.routes.map((r) => (
            <tr>
              <td>{r.route}</td>
              <td>{r.requests}</td>
              <td>
                {r.redis} ({pct(r.redis, r.requests)})
              </td>
              <td>{r.postgres}</td>
              <td class={r.fallback ? "stale" : undefined}>{r.fallback}</td>
              <td>{r.rejected}</td>
              <td class={r.unavailable ? "stale" : undefined}>{r.unavailable}</td>
              <td class={r.errors ? "stale" : undefined}>{r.errors}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  </Layout>
);
