import { mkdtempSync, rmSync, copyFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { snapshot } from "@cr/core";
import { compileTarget, startTarget } from "/work/main/scripts/dist/bench-snapshot.js";
const depth = +process.argv[2];
const bin = "/tmp/dp/bench_target3"; copyFileSync(compileTarget(), bin);
const store = mkdtempSync("/tmp/dp/clistore-");
const t = await startTarget(bin, 1024);
for (let i = 0; i < depth; i++) {
  if (i > 0) await t.command("dirty 10");
  await snapshot(t.pid, { store, incremental: i > 0, after: "leave-running" });
}
const res = { "/work/main@semi": [], "/work/main": [] };
for (let r = 0; r < 14; r++) for (const root of Object.keys(res)) {
  await t.command("dirty 10");
  const out = JSON.parse(execFileSync("node", [...(root.endsWith("@semi") ? ["--min-semi-space-size=16"] : []), `/work/main/packages/cli/dist/main.js`, "snapshot", String(t.pid), "--incremental", "--store", store, "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, ...(root.endsWith("@obj") ? { CR_OBJ: "1" } : {}) } }));
  res[root].push([out.downtimeMs, out.totalMs]);
}
const med = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)].toFixed(1);
for (const [root, v] of Object.entries(res)) console.log(`depth ${depth} ${root}: downtime median ${med(v.map((x) => x[0]))} ms [${v.map((x) => x[0].toFixed(0))}], total median ${med(v.map((x) => x[1]))} ms`);
t.stop(); rmSync(store, { recursive: true, force: true });
