/** @jsxImportSource hono/jsx */
// Console pages of features: the list, one feature (with a diff of two versions), its edit
// form, a new feature in a group, promotion and archiving.
import type { TenantContext } from "#shared/db/tenant.ts";
import type { WorkerApp } from "#shared/http/app.ts";
import type { AuthContext } from "#shared/http/bindings.ts";
import { AppError } from "#shared/http/errors.ts";
import { createFeature, getFeature, listVersions, promoteVersion, updateFeature } from "#shared/registry/features.ts";
import { getGroup } from "#shared/registry/groups.ts";
import { createFeatureBody, type FeatureDefinition, updateFeatureBody } from "#shared/registry/schemas.ts";
import { FeaturePage } from "./feature.tsx";
import { FeaturesPage } from "./features.tsx";
import { type FormValues, featureBody, formValues } from "./form-values.ts";
import { FeatureForm } from "./forms.tsx";
import { allFeatures, allGroups, type C, type Failure, formState, need, page, param, saveForm, uuid } from "./page.tsx";

function featureFormValues(f: FeatureDefinition): FormValues {
  const text = (v: unknown) => (v === null || v === undefined ? "" : String(v));
  return {
    displayName: f.displayName,
    description: text(f.description),
    dataType: f.dataType,
    embeddingDimension: text(f.embeddingDimension),
    sourceType: f.sourceType,
    aggregationType: text(f.aggregationType),
    windowSizeSeconds: text(f.windowSizeSeconds),
    aggregationIntervalSeconds: text(f.aggregationIntervalSeconds),
    transformationSql: text(f.transformationSql),
    validationRules: f.validationRules ? JSON.stringify(f.validationRules) : "",
    tags: f.tags.join(", "),
    status: f.status,
    promote: "on",
  };
}

type FormProps = { mode: "create" | "edit"; title: string; action: string; values: FormValues };

const renderForm = (c: C, auth: AuthContext, props: FormProps, failure?: Failure) =>
  c.html(<FeatureForm auth={auth} {...props} {...formState(failure)} />, (failure?.status ?? 200) as 200);

/** A submitted feature form: its values (SQL as stored, trimmed) and the body for the API. */
async function submitted(c: C, mode: "create" | "edit") {
  const values = formValues(await c.req.parseBody());
  const { body, problems } = featureBody(values, mode);
  if (body.transformationSql) values.transformationSql = body.transformationSql as string;
  return { values, body, problems };
}

async function groupOf(c: C, ctx: TenantContext) {
  const id = param(c, "id");
  if (!uuid.test(id)) throw new AppError("NOT_FOUND", `Feature group ${id} not found`);
  return getGroup(ctx, id);
}

export function registerFeaturePages(app: WorkerApp): void {
  app.get(
    "/console/features",
    page(async (c, ctx, auth) => {
      const [groups, features] = await Promise.all([allGroups(ctx), allFeatures(ctx)]);
      const q = c.req.query();
      const filters = {
        q: q.q,
        group: q.group,
        tag: q.tag,
        status: q.status,
        sourceType: q.sourceType,
        dataType: q.dataType,
      };
      return c.html(<FeaturesPage auth={auth} groups={groups} features={features} filters={filters} />);
    }),
  );

  app.get(
    "/console/features/:ref",
    page(async (c, ctx, auth) => {
      const ref = param(c, "ref");
      const feature = await getFeature(ctx, ref);
      const [group, versions] = await Promise.all([getGroup(ctx, feature.groupId), listVersions(ctx, ref)]);
      const from = versions.find((v) => String(v.version) === c.req.query("from"));
      const to = versions.find((v) => String(v.version) === c.req.query("to"));
      const promoted = c.req.query("promoted");
      const notice = c.req.query("saved") ? "Saved." : promoted ? `Promoted v${promoted}.` : undefined;
      return c.html(
        <FeaturePage
          auth={auth}
          feature={feature}
          groupName={group.name}
          versions={versions}
          diff={from && to ? { from, to } : undefined}
          notice={notice}
        />,
      );
    }),
  );

  app.get(
    "/console/features/:ref/edit",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const ref = param(c, "ref");
      const values = featureFormValues(await getFeature(ctx, ref));
      return renderForm(c, auth, {
        mode: "edit",
        title: `Edit ${ref}`,
        action: `/console/features/${ref}/edit`,
        values,
      });
    }),
  );
  app.post(
    "/console/features/:ref/edit",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const ref = param(c, "ref");
      await getFeature(ctx, ref);
      const { values, body, problems } = await submitted(c, "edit");
      const props: FormProps = { mode: "edit", title: `Edit ${ref}`, action: `/console/features/${ref}/edit`, values };
      return saveForm(c, {
        schema: updateFeatureBody,
        body,
        problems,
        render: (failure) => renderForm(c, auth, props, failure),
        save: async (update) => {
          await updateFeature(ctx, ref, update);
          return `/console/features/${ref}?saved=1`;
        },
      });
    }),
  );

  app.get(
    "/console/groups/:id/features/new",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const group = await groupOf(c, ctx);
      return renderForm(c, auth, {
        mode: "create",
        title: `New feature in ${group.name}`,
        action: `/console/groups/${group.id}/features/new`,
        values: { dataType: "float64", sourceType: "stream" },
      });
    }),
  );
  app.post(
    "/console/groups/:id/features/new",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const group = await groupOf(c, ctx);
      const { values, body, problems } = await submitted(c, "create");
      const action = `/console/groups/${group.id}/features/new`;
      const props: FormProps = { mode: "create", title: `New feature in ${group.name}`, action, values };
      return saveForm(c, {
        schema: createFeatureBody,
        body,
        problems,
        render: (failure) => renderForm(c, auth, props, failure),
        save: async (input) =>
          `/console/features/${group.name}.${(await createFeature(ctx, group.id, input)).name}?saved=1`,
      });
    }),
  );

  app.post(
    "/console/features/:ref/versions/:version/promote",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const ref = param(c, "ref");
      const version = Number(param(c, "version"));
      if (!Number.isSafeInteger(version) || version < 1) throw new AppError("NOT_FOUND", "No such version");
      await promoteVersion(ctx, ref, version);
      return c.redirect(`/console/features/${ref}?promoted=${version}`, 303);
    }),
  );
  app.post(
    "/console/features/:ref/archive",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const ref = param(c, "ref");
      await updateFeature(ctx, ref, { status: "archived" });
      return c.redirect(`/console/features/${ref}?saved=1`, 303);
    }),
  );
}
