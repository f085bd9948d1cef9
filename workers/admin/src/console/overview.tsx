/** @jsxImportSource hono/jsx */
// Overview: the groups with their features per source type and freshness (newest value
// against TTL and schedule, stale ones highlighted), and jobs running or failed today.
import type { FC } from "hono/jsx";
import type { AuthContext } from "#shared/http/bindings.ts";
import type { GroupFreshness } from "#shared/registry/freshness.ts";
import type { FeatureDefinition, FeatureGroup, MaterializationJob } from "#shared/registry/schemas.ts";
import { ago, Layout } from "./layout.tsx";

const sourceTypes = ["batch", "stream", "on_demand"] as const;

export const OverviewPage: FC<{
  auth: AuthContext;
  groups: FeatureGroup[];
  features: FeatureDefinition[];
  freshness: GroupFreshness[];
  jobs: MaterializationJob[];
}> = ({ auth, groups, features, freshness, jobs }) => {
  const live = features.filter((f) => f.status !== "archived");
  const fresh = new Map(freshness.map((f) => [f.groupId, f]));
  const running = jobs.filter((j) => j.status === "running" || j.status === "pending");
  const failed = jobs.filter((j) => j.status === "failed");
  const stale = freshness.filter((f) => f.state === "stale").length;
  return (
    <Layout title="Overview" auth={auth} active="overview">
      <h1>Overview</h1>
      <div class="cards">
        <div class="card">
          <b>{groups.filter((g) => g.status !== "archived").length}</b>groups
        </div>
        {sourceTypes.map((type) => (
          <div class="card">
            <b>{live.filter((f) => f.sourceType === type).length}</b>
            {type} features
          </div>
        ))}
        <div class="card">
          <b class={stale ? "stale" : undefined}>{stale}</b>stale groups
        </div>
        <div class="card">
          <b>{running.length}</b>jobs running
        </div>
        <div class="card">
          <b class={failed.length ? "stale" : undefined}>{failed.length}</b>jobs failed (24 h)
        </div>
      </div>
      <h2>Groups and freshness</h2>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Group</th>
              <th scope="col">Entity</th>
              <th scope="col">Features (batch / stream / on demand)</th>
              <th scope="col">Newest value</th>
              <th scope="col">TTL</th>
              <th scope="col">Schedule</th>
              <th scope="col">Freshness</th>
            </tr>
          </thead>
          <tbody>
            {groups.map((g) => {
              const f = fresh.get(g.id);
              const own = live.filter((d) => d.groupId === g.id);
              return (
                <tr>
                  <td>
                    <a href={`/console/features?group=${encodeURIComponent(g.name)}`}>{g.name}</a>
                    {g.status !== "active" && <span class="tag">{g.status}</span>}
                  </td>
                  <td>{g.entityType}</td>
                  <td>{sourceTypes.map((t) => own.filter((d) => d.sourceType === t).length).join(" / ")}</td>
                  <td>{f?.newestEventAt ? `${ago(f.ageSeconds)} ago` : "—"}</td>
                  <td>{g.ttlSeconds === null ? "none" : ago(g.ttlSeconds)}</td>
                  <td>{f?.scheduleSeconds ? `every ${ago(f.scheduleSeconds)}` : "—"}</td>
                  <td class={f?.state === "stale" ? "stale" : f?.state === "fresh" ? "fresh" : "muted"}>
                    {f?.state === "stale" ? `stale: ${f.reason}` : (f?.state ?? "empty")}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <h2>Jobs running or failed in the last day</h2>
      {running.length + failed.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {[...running, ...failed].map((j) => (
                <tr>
                  <td>
                    <a href={`/console/jobs/${j.id}`}>{j.jobType}</a> {j.startTime} → {j.endTime}
                  </td>
                  <td class={j.status === "failed" ? "stale" : undefined}>{j.status}</td>
                  <td>{Math.round(j.progress)}%</td>
                  <td>{j.errorMessage ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>
  );
};
