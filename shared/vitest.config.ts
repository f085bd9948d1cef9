// Tests of shared modules, beside the modules they test, run in workerd like the workers.
import path from "node:path";
import { workerProject } from "../test/worker-project.ts";

export default workerProject("shared", path.resolve(import.meta.dirname, "../wrangler.toml"), ["**/*.test.ts"]);
