// Form fields (strings) to the registry's request bodies, and the bodies' problems back to
// the fields: the console submits what the API takes and shows what it refuses in place.
export type FormValues = Record<string, string>;

export interface Problem {
  path: string;
  message: string;
  position?: number;
}

/**
 * Form values as text, from a parsed body (files ignored). Browsers send a textarea's line
 * breaks as CRLF: they are stored as LF, so SQL positions count what is stored.
 */
export function formValues(body: Record<string, unknown>): FormValues {
  return Object.fromEntries(
    Object.entries(body)
      .filter((entry): entry is [string, string] => typeof entry[1] === "string")
      .map(([k, v]) => [k, v.replaceAll("\r\n", "\n")]),
  );
}

const text = (v: string | undefined) => (v === undefined || v.trim() === "" ? null : v);
const integer = (v: string | undefined) => (v === undefined || v.trim() === "" ? null : Number(v));
const tags = (v: string | undefined) =>
  (v ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);

/** A feature body from the form; JSON fields that do not parse come back as problems. */
export function featureBody(form: FormValues, mode: "create" | "edit") {
  const problems: Problem[] = [];
  let validationRules: unknown = null;
  if (text(form.validationRules)) {
    try {
      validationRules = JSON.parse(form.validationRules!);
    } catch (error) {
      problems.push({ path: "validationRules", message: `not JSON: ${(error as Error).message}` });
    }
  }
  const body: Record<string, unknown> = {
    displayName: form.displayName ?? "",
    description: text(form.description),
    dataType: form.dataType,
    embeddingDimension: integer(form.embeddingDimension),
    sourceType: form.sourceType,
    aggregationType: text(form.aggregationType),
    windowSizeSeconds: integer(form.windowSizeSeconds),
    transformationSql: text(form.transformationSql)?.trim() ?? null,
    validationRules,
    tags: tags(form.tags),
  };
  if (text(form.aggregationIntervalSeconds)) body.aggregationIntervalSeconds = integer(form.aggregationIntervalSeconds);
  if (mode === "create") {
    body.name = form.name ?? "";
    for (const key of Object.keys(body)) if (body[key] === null) delete body[key];
  } else {
    body.status = form.status;
    body.promote = form.promote === "on";
    if (text(form.changelog)) body.changelog = form.changelog;
  }
  return { body, problems };
}

export function groupBody(form: FormValues, mode: "create" | "edit") {
  const body: Record<string, unknown> = {
    displayName: form.displayName ?? "",
    description: text(form.description),
    ttlSeconds: integer(form.ttlSeconds),
    onlineEnabled: form.onlineEnabled === "on",
    offlineEnabled: form.offlineEnabled === "on",
    tags: tags(form.tags),
  };
  if (mode === "create") {
    body.name = form.name ?? "";
    body.entityType = form.entityType;
    if (body.description === null) delete body.description;
  }
  return body;
}

/** Problems by the form field they belong to (the first segment of each path). */
export function problemsByField(problems: readonly Problem[]): Map<string, Problem[]> {
  const byField = new Map<string, Problem[]>();
  for (const p of problems) {
    const field = p.path.split(".")[0] ?? "(root)";
    byField.set(field, [...(byField.get(field) ?? []), p]);
  }
  return byField;
}
