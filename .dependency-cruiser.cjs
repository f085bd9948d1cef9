// The import graph's rules (npm run lint): no circles, and arrows only point down the
// rooms: workers → shared, bench → harness/scripts, test → harness; never back up.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "An import circle couples modules that should not know each other. Type-only imports are erased at build time: the client's types come from the workers' schemas, and the bootstrap reads the example the client's builder declares.",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "client-standalone",
      severity: "error",
      comment:
        "The client package has no runtime dependency: from the repo it takes types only (erased), and node built-ins for its CLI.",
      from: { path: "^client/src/", pathNot: "\\.test\\.ts$" },
      to: { pathNot: "^client/", dependencyTypesNot: ["type-only", "core"] },
    },
    {
      name: "shared-not-up",
      severity: "error",
      comment: "shared/ is below the workers, the harness, tests, scripts and benchmarks.",
      from: { path: "^shared/", pathNot: "(\\.test\\.ts|vitest\\.config\\.ts)$" },
      to: { path: "^(workers|harness|test|scripts|bench)/" },
    },
    {
      name: "workers-apart",
      severity: "error",
      comment: "A worker does not import another worker's code: what they share lives in shared/.",
      from: { path: "^workers/([^/]+)/", pathNot: "(\\.test\\.ts|vitest\\.config\\.ts)$" },
      to: { path: "^workers/", pathNot: "^workers/$1/" },
    },
    {
      name: "product-not-into-tooling",
      severity: "error",
      comment: "Product code never imports tests, benchmarks, the harness or scripts.",
      from: { path: "^(shared|workers)/", pathNot: "(\\.test\\.ts|vitest\\.config\\.ts)$" },
      to: { path: "^(test|bench|harness|scripts)/" },
    },
    {
      name: "bench-not-into-test",
      severity: "error",
      comment: "Benchmarks share set-up with tests through harness/, not test/.",
      from: { path: "^bench/" },
      to: { path: "^test/" },
    },
    {
      name: "scripts-not-into-bench-or-test",
      severity: "error",
      comment: "scripts/ (the local stack) is below the benchmarks and the tests.",
      from: { path: "^scripts/" },
      to: { path: "^(bench|test|harness)/" },
    },
    {
      name: "harness-not-into-test",
      severity: "error",
      comment: "harness/ is what tests and benchmarks share: it knows neither.",
      from: { path: "^harness/" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "resolvable",
      severity: "error",
      comment: "Every import resolves (the #shared and #harness aliases included).",
      from: {},
      to: { couldNotResolve: true, pathNot: "^cloudflare:" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|\\.wrangler|\\.stack|dist)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".json"],
    },
  },
};
