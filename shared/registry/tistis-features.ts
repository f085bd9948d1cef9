// The TIS TIS groups and features the bootstrap installs: examples/tistis/features.ts, the
// same file a tenant can plan and apply as code, so the two can never drift apart.
import tistis from "../../examples/tistis/features.ts";
import type { RegistryDeclaration } from "./declaration.ts";

type GroupSpec = RegistryDeclaration["groups"][number];

export const TISTIS_GROUPS = tistis.toDeclaration().groups as GroupSpec[];
