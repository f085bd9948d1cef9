/** @jsxImportSource hono/jsx */
// Jobs: the list, a backfill form, and one job with live progress (a small script polls its
// status), cancellation and failure samples.

import { raw } from "hono/html";
import type { FC } from "hono/jsx";
import type { AuthContext } from "#shared/http/bindings.ts";
import type { FeatureGroup, MaterializationJob } from "#shared/registry/schemas.ts";
import type { FormValues, Problem } from "./form-values.ts";
import { Layout, Notice } from "./layout.tsx";
import { can } from "./session.ts";

const terminal = new Set(["completed", "failed", "cancelled"]);

const Progress: FC<{ job: MaterializationJob }> = ({ job }) => (
  <div
    id="job-progress"
    class="progress"
    role="progressbar"
    aria-label="Progress"
    aria-valuemin={0}
    aria-valuemax={100}
    aria-valuenow={Math.round(job.progress)}
  >
    <span style={`width:${Math.min(100, Math.max(0, job.progress))}%`} />
  </div>
);

export const JobsPage: FC<{
  auth: AuthContext;
  jobs: MaterializationJob[];
  groups: FeatureGroup[];
  values: FormValues;
  problems: Problem[];
}> = ({ auth, jobs, groups, values, problems }) => {
  const groupName = new Map(groups.map((g) => [g.id, g.name]));
  return (
    <Layout title="Jobs" auth={auth} active="jobs">
      <h1>Jobs</h1>
      {can(auth, "jobs:write") && (
        <section aria-labelledby="backfill">
          <h2 id="backfill">Backfill</h2>
          {problems.length > 0 && (
            <Notice error>
              {problems.map((p) => (
                <div>
                  {p.path}: {p.message}
                </div>
              ))}
            </Notice>
          )}
          <form class="filters" method="post" action="/console/jobs">
            <div>
              <label for="featureGroupId">Group</label>
              <select id="featureGroupId" name="featureGroupId">
                {groups
                  .filter((g) => g.status !== "archived")
                  .map((g) => (
                    <option value={g.id} selected={values.featureGroupId === g.id}>
                      {g.name}
                    </option>
                  ))}
              </select>
            </div>
            <div>
              <label for="jobType">Kind</label>
              <select id="jobType" name="jobType">
                <option value="full">full</option>
                <option value="incremental" selected={values.jobType === "incremental"}>
                  incremental
                </option>
              </select>
            </div>
            <div>
              <label for="startTime">From (UTC)</label>
              <input id="startTime" name="startTime" type="datetime-local" value={values.startTime ?? ""} required />
            </div>
            <div>
              <label for="endTime">To (UTC)</label>
              <input id="endTime" name="endTime" type="datetime-local" value={values.endTime ?? ""} required />
            </div>
            <div>
              <button type="submit">Start backfill</button>
            </div>
          </form>
        </section>
      )}
      <h2>Recent jobs</h2>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Group</th>
              <th scope="col">Window</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Rows</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr>
                <td>
                  <a href={`/console/jobs/${j.id}`}>{j.jobType}</a>
                </td>
                <td>{groupName.get(j.featureGroupId) ?? j.featureGroupId}</td>
                <td>
                  {j.startTime} → {j.endTime}
                </td>
                <td class={j.status === "failed" ? "stale" : undefined}>{j.status}</td>
                <td>{Math.round(j.progress)}%</td>
                <td>{j.rowsProcessed}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>
  );
};

// Polls the job's status every second while it runs; reloads once it ends, to show the
// final counts and failure samples.
const live = (id: string) =>
  `(function(){var done=false;function tick(){fetch('/console/jobs/${id}/status',{credentials:'same-origin'}).then(function(r){return r.json()}).then(function(j){document.getElementById('job-status').textContent=j.status;var p=document.getElementById('job-progress');p.setAttribute('aria-valuenow',Math.round(j.progress));p.firstChild.style.width=Math.min(100,j.progress)+'%';document.getElementById('job-percent').textContent=Math.round(j.progress)+'%';document.getElementById('job-rows').textContent=j.rowsProcessed;if(['completed','failed','cancelled'].indexOf(j.status)>=0){done=true;location.reload()}}).catch(function(){}).then(function(){if(!done)setTimeout(tick,1000)})}setTimeout(tick,1000)})();`;

export const JobPage: FC<{ auth: AuthContext; job: MaterializationJob; groupName: string }> = ({
  auth,
  job,
  groupName,
}) => (
  <Layout title={`Job ${job.id}`} auth={auth} active="jobs">
    <p>
      <a href="/console/jobs">Jobs</a>
    </p>
    <h1>
      {job.jobType} job of {groupName}
    </h1>
    <p>
      {job.startTime} → {job.endTime}
      {job.featureVersion !== null && ` · version ${job.featureVersion} only`}
    </p>
    <p aria-live="polite">
      Status: <strong id="job-status">{job.status}</strong> · <span id="job-percent">{Math.round(job.progress)}%</span>{" "}
      · rows written: <span id="job-rows">{job.rowsProcessed}</span> · unchanged {job.rowsUnchanged} · failed{" "}
      {job.rowsFailed} · attempts {job.attempts}
      {job.durationMs !== null && ` · ${(job.durationMs / 1000).toFixed(1)} s`}
    </p>
    <Progress job={job} />
    {job.errorMessage && <Notice error>{job.errorMessage}</Notice>}
    {can(auth, "jobs:write") && !terminal.has(job.status) && (
      <form method="post" action={`/console/jobs/${job.id}/cancel`} style="margin-top:12px">
        <button class="danger" type="submit">
          Cancel job
        </button>
      </form>
    )}
    <h2>Failure samples</h2>
    {job.failureSamples.length === 0 ? (
      <p class="muted">None.</p>
    ) : (
      <pre>{job.failureSamples.map((s) => JSON.stringify(s)).join("\n")}</pre>
    )}
    {!terminal.has(job.status) && <script>{raw(live(job.id))}</script>}
  </Layout>
);
