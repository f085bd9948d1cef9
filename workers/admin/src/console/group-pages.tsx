/** @jsxImportSource hono/jsx */
// Console pages of groups: a new group, its edit form, archiving.
import type { TenantContext } from "#shared/db/tenant.ts";
import type { WorkerApp } from "#shared/http/app.ts";
import type { AuthContext } from "#shared/http/bindings.ts";
import { AppError } from "#shared/http/errors.ts";
import { archiveGroup, createGroup, getGroup, updateGroup } from "#shared/registry/groups.ts";
import { createGroupBody, type FeatureGroup, updateGroupBody } from "#shared/registry/schemas.ts";
import { type FormValues, formValues, groupBody } from "./form-values.ts";
import { GroupForm } from "./forms.tsx";
import { type C, type Failure, formState, need, page, param, saveForm, uuid } from "./page.tsx";

type FormProps = { mode: "create" | "edit"; title: string; action: string; values: FormValues; archiveAction?: string };

const renderForm = (c: C, auth: AuthContext, props: FormProps, failure?: Failure) =>
  c.html(<GroupForm auth={auth} {...props} {...formState(failure)} />, (failure?.status ?? 200) as 200);

function groupFormValues(g: FeatureGroup): FormValues {
  return {
    displayName: g.displayName,
    description: g.description ?? "",
    ttlSeconds: g.ttlSeconds === null ? "" : String(g.ttlSeconds),
    onlineEnabled: g.onlineEnabled ? "on" : "",
    offlineEnabled: g.offlineEnabled ? "on" : "",
    tags: g.tags.join(", "),
    status: g.status,
  };
}

async function groupOf(c: C, ctx: TenantContext) {
  const id = param(c, "id");
  if (!uuid.test(id)) throw new AppError("NOT_FOUND", `Feature group ${id} not found`);
  return getGroup(ctx, id);
}

const editProps = (group: FeatureGroup, values: FormValues): FormProps => ({
  mode: "edit",
  title: `Edit group ${group.name}`,
  action: `/console/groups/${group.id}/edit`,
  values: { ...values, status: group.status },
  archiveAction: `/console/groups/${group.id}/archive`,
});

export function registerGroupPages(app: WorkerApp): void {
  const newProps = (values: FormValues): FormProps => ({
    mode: "create",
    title: "New group",
    action: "/console/groups/new",
    values,
  });
  app.get(
    "/console/groups/new",
    page(async (c, _ctx, auth) => {
      need(auth, "registry:write");
      return renderForm(c, auth, newProps({ entityType: "user", onlineEnabled: "on", offlineEnabled: "on" }));
    }),
  );
  app.post(
    "/console/groups/new",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const values = formValues(await c.req.parseBody());
      return saveForm(c, {
        schema: createGroupBody,
        body: groupBody(values, "create"),
        render: (failure) => renderForm(c, auth, newProps(values), failure),
        save: async (input) => `/console/groups/${(await createGroup(ctx, input)).id}/edit`,
      });
    }),
  );

  app.get(
    "/console/groups/:id/edit",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const group = await groupOf(c, ctx);
      return renderForm(c, auth, editProps(group, groupFormValues(group)));
    }),
  );
  app.post(
    "/console/groups/:id/edit",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      const group = await groupOf(c, ctx);
      const values = formValues(await c.req.parseBody());
      return saveForm(c, {
        schema: updateGroupBody,
        body: groupBody(values, "edit"),
        render: (failure) => renderForm(c, auth, editProps(group, values), failure),
        save: async (update) => {
          await updateGroup(ctx, group.id, update);
          return `/console/features?group=${encodeURIComponent(group.name)}`;
        },
      });
    }),
  );
  app.post(
    "/console/groups/:id/archive",
    page(async (c, ctx, auth) => {
      need(auth, "registry:write");
      await archiveGroup(ctx, (await groupOf(c, ctx)).id);
      return c.redirect("/console", 303);
    }),
  );
}
