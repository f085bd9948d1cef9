// A plan as people read it: one line per change, the fields it changes, what breaks, and a
// summary. Nothing in it depends on time or ids, so the same plan always prints the same.
import type { PlannedChange, RegistryPlan } from "./contract.ts";

const symbols: Record<PlannedChange["action"], string> = {
  create_group: "+ group  ",
  update_group: "~ group  ",
  archive_group: "- group  ",
  create_feature: "+ feature",
  update_feature: "~ feature",
  promote_version: "↑ feature",
  archive_feature: "- feature",
};

function shown(value: unknown): string {
  if (typeof value === "string" && value.includes("\n")) return `${value.split("\n").length} lines of text`;
  const text = JSON.stringify(value) ?? "null";
  return text.length > 72 ? `${text.slice(0, 69)}...` : text;
}

function note(change: PlannedChange): string {
  switch (change.action) {
    case "create_feature":
      return "(version 1)";
    case "update_feature":
      return change.version ? `(new version v${change.version.number}, ${change.version.state})` : "(same version)";
    case "promote_version":
      return `(promote v${change.version!.number}: reads switch to it)`;
    case "archive_feature":
    case "archive_group":
      return "(archive: not in the declaration)";
    default:
      return "";
  }
}

export function formatPlan(plan: RegistryPlan): string {
  const lines: string[] = [];
  for (const change of plan.changes) {
    lines.push(`  ${symbols[change.action]} ${change.target}  ${note(change)}`.trimEnd());
    if (change.action === "update_feature" || change.action === "update_group") {
      for (const c of change.changes) lines.push(`      ${c.field}: ${shown(c.from)} → ${shown(c.to)}`);
    }
    for (const reason of change.breaking) lines.push(`      ! breaking: ${reason}`);
  }
  const { create, update, archive, breaking } = plan.summary;
  if (plan.changes.length === 0) lines.push(`No changes: the registry is as declared (${plan.unchanged} unchanged).`);
  else
    lines.push(
      "",
      `Plan: ${create} to create, ${update} to update, ${archive} to archive; ${breaking} breaking. ${plan.unchanged} unchanged.`,
    );
  return lines.join("\n");
}
