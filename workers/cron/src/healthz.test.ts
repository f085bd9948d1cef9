import { describeHealthRoute } from "../../../test/helpers/health.ts";
import worker from "./index.ts";

describeHealthRoute("cron", worker);
