import { mkdtempSync, rmSync, copyFileSync } from "node:fs";
const root = process.argv[2];
const { snapshot } = await import(`${root}/packages/core/dist/index.js`);
const { compileTarget, startTarget } = await import(`/work/main/scripts/dist/bench-snapshot.js`);
const bin = "/tmp/dp/bench_target2"; copyFileSync(compileTarget(), bin);
const store = mkdtempSync("/tmp/dp/snapstore-");
const t = await startTarget(bin, 1024);
const out = [];
for (let i = 0; i < 101; i++) {
  if (i > 0) await t.command("dirty 10");
  const r = await snapshot(t.pid, { store, incremental: i > 0, after: "leave-running" });
  if (i >= 91) out.push(r.totalMs); 
  if (i % 25 === 0 && i > 0) { const T = globalThis.__T; console.log(`#${i} down ${r.downtimeMs.toFixed(1)} total ${r.totalMs.toFixed(0)} ` + T.slice(1).map((x, k) => `${x[0]} ${(x[1] - T[k][1]).toFixed(0)}`).join(" ")); }
}
out.sort((a, b) => a - b);
console.log(`${root}: depth 91-100 total median ${out[5].toFixed(0)} ms`);
t.stop(); rmSync(store, { recursive: true, force: true });
