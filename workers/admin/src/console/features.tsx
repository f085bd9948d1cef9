/** @jsxImportSource hono/jsx */
// Features: search (name, display name, description) and filters (group, tag, status,
// source type, data type), as a GET form so every view is a link.
import type { FC } from "hono/jsx";
import type { AuthContext } from "#shared/http/bindings.ts";
import {
  dataType,
  type FeatureDefinition,
  type FeatureGroup,
  featureStatus,
  sourceType,
} from "#shared/registry/schemas.ts";
import { Layout } from "./layout.tsx";
import { can } from "./session.ts";

export interface FeatureFilters {
  q?: string;
  group?: string;
  tag?: string;
  status?: string;
  sourceType?: string;
  dataType?: string;
}

export function filterFeatures(features: FeatureDefinition[], groups: FeatureGroup[], f: FeatureFilters) {
  const groupName = new Map(groups.map((g) => [g.id, g.name]));
  const q = f.q?.trim().toLowerCase();
  return features.filter(
    (d) =>
      (!q || [d.name, d.displayName, d.description ?? ""].some((t) => t.toLowerCase().includes(q))) &&
      (!f.group || groupName.get(d.groupId) === f.group) &&
      (!f.tag || d.tags.includes(f.tag)) &&
      (!f.status || d.status === f.status) &&
      (!f.sourceType || d.sourceType === f.sourceType) &&
      (!f.dataType || d.dataType === f.dataType),
  );
}

const Select: FC<{ name: keyof FeatureFilters; label: string; options: readonly string[]; value?: string }> = (p) => (
  <div>
    <label for={`f-${p.name}`}>{p.label}</label>
    <select id={`f-${p.name}`} name={p.name}>
      <option value="">any</option>
      {p.options.map((o) => (
        <option value={o} selected={o === p.value}>
          {o}
        </option>
      ))}
    </select>
  </div>
);

export const FeaturesPage: FC<{
  auth: AuthContext;
  groups: FeatureGroup[];
  features: FeatureDefinition[];
  filters: FeatureFilters;
}> = ({ auth, groups, features, filters }) => {
  const groupName = new Map(groups.map((g) => [g.id, g.name]));
  const shown = filterFeatures(features, groups, filters);
  const tags = [...new Set(features.flatMap((f) => f.tags))].sort();
  return (
    <Layout title="Features" auth={auth} active="features">
      <h1>Features</h1>
      {can(auth, "registry:write") && (
        <p>
          <a class="button secondary" href="/console/groups/new">
            New group
          </a>{" "}
          {groups
            .filter((g) => g.status !== "archived")
            .map((g) => (
              <a class="button secondary" href={`/console/groups/${g.id}/features/new`}>
                New feature in {g.name}
              </a>
            ))}
        </p>
      )}
      <form class="filters" method="get" action="/console/features" aria-label="Filter features">
        <div>
          <label for="f-q">Search</label>
          <input id="f-q" name="q" type="search" value={filters.q ?? ""} placeholder="name or description" />
        </div>
        <Select name="group" label="Group" options={groups.map((g) => g.name)} value={filters.group} />
        <Select name="tag" label="Tag" options={tags} value={filters.tag} />
        <Select name="status" label="Status" options={featureStatus.options} value={filters.status} />
        <Select name="sourceType" label="Source type" options={sourceType.options} value={filters.sourceType} />
        <Select name="dataType" label="Data type" options={dataType.options} value={filters.dataType} />
        <div>
          <button type="submit">Filter</button>
        </div>
      </form>
      <p class="muted" role="status">
        {shown.length} of {features.length} features
      </p>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Feature</th>
              <th scope="col">Type</th>
              <th scope="col">Source</th>
              <th scope="col">Version</th>
              <th scope="col">Status</th>
              <th scope="col">Tags</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((f) => {
              const ref = `${groupName.get(f.groupId)}.${f.name}`;
              return (
                <tr>
                  <td>
                    <a href={`/console/features/${ref}`}>{ref}</a>
                    <div class="muted">{f.displayName}</div>
                  </td>
                  <td>{f.dataType}</td>
                  <td>
                    {f.sourceType}
                    {f.aggregationType ? ` (${f.aggregationType})` : ""}
                  </td>
                  <td>
                    v{f.currentVersion}
                    {f.stagedVersion && <span class="tag staged">v{f.stagedVersion} staged</span>}
                  </td>
                  <td>{f.status}</td>
                  <td>
                    {f.tags.map((t) => (
                      <span class="tag">{t}</span>
                    ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Layout>
  );
};
