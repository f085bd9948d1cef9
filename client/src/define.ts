// Features as code: a tenant's groups and features declared in a `features.ts`, typed by
// the registry's own schemas. The object it returns is the declaration `fs plan` and
// `fs apply` send, and a type that gives each "group.feature" name its value type.
import type { DataType, DeclaredFeature, DeclaredGroup, RegistryDeclaration } from "./contract.ts";

export type FeatureDeclaration = Omit<DeclaredFeature, "name">;
export type GroupDeclaration = Omit<DeclaredGroup, "name" | "features"> & {
  features: Record<string, FeatureDeclaration>;
};

export interface FeatureRegistry<G extends Record<string, GroupDeclaration> = Record<string, GroupDeclaration>> {
  readonly groups: G;
  /** The wire form: arrays of named groups and features, in declaration order. */
  toDeclaration(): RegistryDeclaration;
}

/** Declares the whole registry of a tenant: what it leaves out, `fs apply` archives. */
export function defineFeatures<const G extends Record<string, GroupDeclaration>>(groups: G): FeatureRegistry<G> {
  return {
    groups,
    toDeclaration: () => ({
      groups: Object.entries(groups).map(([name, { features, ...group }]) => ({
        name,
        ...group,
        features: Object.entries(features).map(([featureName, feature]) => ({ name: featureName, ...feature })),
      })),
    }),
  };
}

/** What a value of a data type is in JSON. */
export type ValueOfType<T> = T extends "int64" | "float64"
  ? number
  : T extends "string" | "timestamp"
    ? string
    : T extends "bool"
      ? boolean
      : T extends "embedding"
        ? number[]
        : T extends "array"
          ? unknown[]
          : unknown;

type Groups<R> = R extends FeatureRegistry<infer G> ? G : never;

/** Every "group.feature" name of a declared registry (any string without one). */
export type FeatureName<R> = [Groups<R>] extends [never]
  ? string
  : { [K in keyof Groups<R> & string]: `${K}.${keyof Groups<R>[K]["features"] & string}` }[keyof Groups<R> & string];

/** The value type of one name (`unknown` without a declared registry). */
export type FeatureValue<R, N extends string> = [Groups<R>] extends [never]
  ? unknown
  : N extends `${infer G}.${infer F}`
    ? G extends keyof Groups<R>
      ? F extends keyof Groups<R>[G]["features"]
        ? Groups<R>[G]["features"][F] extends { dataType: infer T extends DataType }
          ? ValueOfType<T>
          : unknown
        : unknown
      : unknown
    : unknown;
