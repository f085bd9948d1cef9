import path from "node:path";
import { workerProject } from "../../test/worker-project.ts";

export default workerProject("admin", path.resolve(import.meta.dirname, "./wrangler.toml"));
