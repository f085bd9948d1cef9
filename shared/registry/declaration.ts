// Features as code: the registry a tenant declares (groups with their features, as a
// `features.ts` builds it), checked by the same field schemas as the one-call routes.
// `plan` compares it with the live registry; `apply` makes the registry equal to it.
import { z } from "@hono/zod-openapi";
import { createFeatureBody, createGroupBody } from "./schemas.ts";

const declaredStatus = z.enum(["active", "deprecated"]).optional().openapi({
  description: "Default active. Archive by leaving the feature (or group) out of the declaration",
});

export const declaredFeature = createFeatureBody
  .omit({ changelog: true })
  .extend({
    status: declaredStatus,
    stage: z.boolean().optional().openapi({
      description:
        "true: a change that makes a new version stages it (reads keep the current version). Default false: the declared definition is the one reads answer, so a staged version is promoted",
    }),
  })
  .openapi("DeclaredFeature");
export type DeclaredFeature = z.infer<typeof declaredFeature>;

export const declaredGroup = createGroupBody
  .extend({
    status: declaredStatus,
    features: z.array(declaredFeature).max(500),
  })
  .openapi("DeclaredGroup");
export type DeclaredGroup = z.infer<typeof declaredGroup>;

export const registryDeclaration = z
  .strictObject({
    groups: z.array(declaredGroup).max(200),
  })
  .superRefine((declaration, ctx) => {
    const groups = new Set<string>();
    declaration.groups.forEach((group, g) => {
      if (groups.has(group.name))
        ctx.addIssue({ code: "custom", path: ["groups", g, "name"], message: "declared twice" });
      groups.add(group.name);
      const features = new Set<string>();
      group.features.forEach((feature, f) => {
        if (features.has(feature.name))
          ctx.addIssue({ code: "custom", path: ["groups", g, "features", f, "name"], message: "declared twice" });
        features.add(feature.name);
      });
    });
  })
  .openapi("RegistryDeclaration");
export type RegistryDeclaration = z.infer<typeof registryDeclaration>;
export type RegistryDeclarationInput = z.input<typeof registryDeclaration>;

export const applyRequest = z
  .strictObject({
    declaration: registryDeclaration,
    allowBreaking: z.boolean().optional().openapi({
      description: "Apply changes that break readers (a data type change, archiving a feature with values)",
    }),
  })
  .openapi("RegistryApplyRequest");

const fieldChange = z.object({ field: z.string(), from: z.unknown(), to: z.unknown() });

export const plannedChange = z
  .object({
    action: z.enum([
      "create_group",
      "update_group",
      "archive_group",
      "create_feature",
      "update_feature",
      "promote_version",
      "archive_feature",
    ]),
    target: z.string().openapi({ description: "'group' or 'group.feature'", example: "user.conversation_count" }),
    changes: z.array(fieldChange),
    version: z
      .object({ number: z.number().int(), state: z.enum(["promoted", "staged"]) })
      .nullable()
      .openapi({ description: "The version this change writes or promotes; null when no version is made" }),
    breaking: z.array(z.string()).openapi({ description: "Why readers break; empty when they do not" }),
  })
  .openapi("PlannedChange");
export type PlannedChange = z.infer<typeof plannedChange>;

export const registryPlan = z
  .object({
    changes: z.array(plannedChange),
    summary: z.object({
      create: z.number().int(),
      update: z.number().int(),
      archive: z.number().int(),
      breaking: z.number().int(),
    }),
    unchanged: z.number().int().openapi({ description: "Declared groups and features already as declared" }),
  })
  .openapi("RegistryPlan");
export type RegistryPlan = z.infer<typeof registryPlan>;

export const applyResult = registryPlan
  .extend({
    applied: z.boolean().openapi({ description: "false when there was nothing to change" }),
  })
  .openapi("RegistryApplyResult");
