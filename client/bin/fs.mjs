#!/usr/bin/env node
// `npx fs plan|apply`: the CLI and the user's features.ts are TypeScript, run through tsx.
let register;
try {
  ({ register } = await import("tsx/esm/api"));
} catch {
  console.error("fs needs tsx to read features.ts: npm install --save-dev tsx");
  process.exit(1);
}
register();
const { main } = await import("../src/cli.ts");
process.exitCode = await main(process.argv.slice(2));
