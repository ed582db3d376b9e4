import { buildFixtures } from "./fixtures/build.js";

// Compile the C fixture programs once per test run.
export default async function setup(): Promise<void> {
  await buildFixtures();
}
