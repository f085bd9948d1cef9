// Cross-cutting tests (tenant isolation, auth, Redis, partitions, schema drift), run in
// workerd with the serving worker's configuration.
import path from "node:path";
import { workerProject } from "./worker-project.ts";

export default workerProject("foundation", path.resolve(import.meta.dirname, "../wrangler.toml"), ["*.test.ts"]);
