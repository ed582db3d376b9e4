import { buildCliIfStale } from "./cli-build.js";
import { buildFixtures } from "./fixtures/build.js";

// Compile the C fixture programs and build the CLI once per test run.
export default async function setup(): Promise<void> {
  await buildFixtures();
  buildCliIfStale();
}
