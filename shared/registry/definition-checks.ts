// Checks a feature definition as a whole (after an update is merged into the current one):
// what zod cannot say field by field. Problems come back as 400 with each path.
import { AppError } from "#shared/http/errors.ts";
import type { FeatureDefinition, ValidationRules } from "./schemas.ts";

export type DefinitionFields = Pick<
  FeatureDefinition,
  | "dataType"
  | "embeddingDimension"
  | "aggregationType"
  | "windowSizeSeconds"
  | "aggregationIntervalSeconds"
  | "sourceType"
  | "validationRules"
>;

interface Problem {
  path: string;
  message: string;
}

const numericTypes = new Set(["int64", "float64"]);

function allowedValueProblem(dataType: string, value: unknown): string | null {
  switch (dataType) {
    case "int64":
      return typeof value === "number" && Number.isSafeInteger(value) ? null : "must be an integer";
    case "float64":
      return typeof value === "number" && Number.isFinite(value) ? null : "must be a finite number";
    case "string":
      return typeof value === "string" ? null : "must be a string";
    case "bool":
      return typeof value === "boolean" ? null : "must be a boolean";
    default:
      return `allowedValues is not supported for ${dataType} features`;
  }
}

function ruleProblems(dataType: string, rules: ValidationRules): Problem[] {
  const problems: Problem[] = [];
  const at = (field: string) => `validationRules.${field}`;
  if ((rules.min !== undefined || rules.max !== undefined) && !numericTypes.has(dataType)) {
    problems.push({
      path: at(rules.min !== undefined ? "min" : "max"),
      message: `min/max apply to int64 and float64, not ${dataType}`,
    });
  }
  if (rules.min !== undefined && rules.max !== undefined && rules.min > rules.max) {
    problems.push({ path: at("min"), message: `min (${rules.min}) is greater than max (${rules.max})` });
  }
  if (rules.pattern !== undefined) {
    if (dataType !== "string") {
      problems.push({ path: at("pattern"), message: `pattern applies to string features, not ${dataType}` });
    } else {
      try {
        new RegExp(rules.pattern, "u");
      } catch (error) {
        problems.push({ path: at("pattern"), message: `does not compile: ${(error as Error).message}` });
      }
    }
  }
  rules.allowedValues?.forEach((value, i) => {
    const problem = allowedValueProblem(dataType, value);
    if (problem) problems.push({ path: `${at("allowedValues")}.${i}`, message: problem });
  });
  return problems;
}

export function checkDefinition(definition: DefinitionFields): void {
  const problems: Problem[] = [];
  const isEmbedding = definition.dataType === "embedding";
  if (isEmbedding && !definition.embeddingDimension) {
    problems.push({ path: "embeddingDimension", message: "embedding features need a positive embeddingDimension" });
  }
  if (!isEmbedding && definition.embeddingDimension != null) {
    problems.push({
      path: "embeddingDimension",
      message: `only embedding features have a dimension, not ${definition.dataType}`,
    });
  }
  if (definition.validationRules) problems.push(...ruleProblems(definition.dataType, definition.validationRules));
  if (
    definition.aggregationType &&
    ["sum", "avg", "min", "max"].includes(definition.aggregationType) &&
    !numericTypes.has(definition.dataType)
  ) {
    problems.push({
      path: "aggregationType",
      message: `${definition.aggregationType} needs a numeric feature, not ${definition.dataType}`,
    });
  }
  problems.push(...windowProblems(definition));
  if (problems.length) throw new AppError("VALIDATION_FAILED", "The feature definition is not consistent", problems);
}

/** A windowed stream aggregation: its window is a whole number of tiles, and embeddings do not fold. */
function windowProblems(definition: DefinitionFields): Problem[] {
  if (definition.sourceType !== "stream" || !definition.aggregationType) return [];
  const problems: Problem[] = [];
  if (definition.dataType === "embedding")
    problems.push({ path: "aggregationType", message: "embedding features cannot be aggregated" });
  const interval = definition.aggregationIntervalSeconds ?? 60;
  if (definition.windowSizeSeconds != null && definition.windowSizeSeconds % interval !== 0) {
    problems.push({
      path: "windowSizeSeconds",
      message: `must be a multiple of aggregationIntervalSeconds (${interval}): windows are made of whole intervals`,
    });
  }
  return problems;
}
