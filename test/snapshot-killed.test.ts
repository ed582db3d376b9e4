// A checkpoint never harms its target (docs/design.md decisions 4 and 5): `cr snapshot` (the
// CLI) of a target with 64 MiB of memory that it keeps rewriting is killed with SIGKILL at
// random moments, 50 times: the target runs on unharmed (not stopped, not traced, no errors,
// progressing), the store holds no partial image and no stray temporary file, every image in it
// opens and verifies, and a `cr snapshot` afterwards works and its whole chain resolves and
// verifies.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Store } from "@cr/core";
import { runCli, spawnCli } from "./cli.js";
import { cleanupTmp, fixtures, sleep, startFixture, tmpDir } from "./harness.js";
import { verifyChain } from "./image-pages.js";
import { checkStore, procStatus, readUntil, report, waitUntraced } from "./target-report.js";

/** The killed snapshots' target: large enough that a snapshot takes a good part of a second. */
const BALLAST_MIB = 64;

afterAll(async () => {
  await fixtures.stopAll();
  cleanupTmp();
});

describe("a killed cr snapshot goes unnoticed", () => {
  it("cr snapshot killed with SIGKILL at random moments, 50 times: the target and the store are unharmed", async () => {
    const dir = tmpDir("cr-killed-");
    const store = join(dir, "store");
    const outfile = join(dir, "out.txt");
    const t = await startFixture("ballast_target", [outfile], { env: { BALLAST_MIB: String(BALLAST_MIB), BALLAST_RATE: String(BALLAST_MIB / 4) } });
    await t.waitReady(20_000);
    const args = ["snapshot", String(t.pid), "--incremental", "--store", store, "--json"];

    // Two complete runs: the full image, and a typical increment (the timing the kills use).
    const first = await runCli(args);
    expect(first.code, `cr snapshot: ${first.stderr}`).toBe(0);
    await sleep(300);
    const second = await runCli(args);
    expect(second.code, `cr snapshot: ${second.stderr}`).toBe(0);
    const parsed = JSON.parse(second.stdout) as { crid: string | number; parent: string | number | null; bytes: number; dirtyPages: number };
    expect(String(parsed.parent)).toBe(String((JSON.parse(first.stdout) as { crid: string | number }).crid));
    const typical = Math.min(first.ms, second.ms);
    // Node's start and the loading of cr's modules take part of that: half of the kills land after it.
    const startup = Math.min((await runCli(["--version"])).ms, typical);
    console.log(
      `cr snapshot of a ${BALLAST_MIB} MiB target: full ${first.ms} ms, increment ${second.ms} ms (${parsed.dirtyPages} pages, ${parsed.bytes} bytes); ` +
        `cr --version ${startup} ms`,
    );

    let last = await report(t);
    expect(last.errors, last.line).toBe(0);
    let finishedAnyway = 0;
    let killedWhileAttached = 0;
    for (let k = 0; k < 50; k++) {
      const child = spawnCli(args);
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
      const delay = k % 2 === 0 ? Math.random() * typical : startup + Math.random() * (typical - startup);
      await Promise.race([sleep(delay), exited]);
      if (procStatus(t.pid).tracer === child.pid) killedWhileAttached++;
      child.kill("SIGKILL");
      const status = await exited;
      if (status.signal !== "SIGKILL") {
        finishedAnyway++;
        expect(status.code, `cr snapshot ended by itself before the kill, with: ${stderr}`).toBe(0);
      }
      const s = await waitUntraced(t.pid);
      expect(s.tracer, `kill ${k} after ${delay.toFixed(0)} ms: the target is still traced`).toBe(0);
      expect(s.state, `kill ${k} after ${delay.toFixed(0)} ms: the target is stopped`).not.toMatch(/^[tT]$/);
      const now = await readUntil(() => report(t), (r) => r.iterations > last.iterations);
      expect(now.errors, `kill ${k} after ${delay.toFixed(0)} ms: ${now.line}`).toBe(0);
      expect(now.signals, `kill ${k} after ${delay.toFixed(0)} ms: ${now.line}`).toBe(0);
      expect(now.iterations, `kill ${k} after ${delay.toFixed(0)} ms: the target progresses`).toBeGreaterThan(last.iterations);
      last = now;
    }
    console.log(`50 kills within 0..${typical} ms: ${killedWhileAttached} while cr had the target seized, ${finishedAnyway} run(s) finished before their kill`);

    const { images } = await checkStore(store, { afterKills: true });
    const meta = Store.open(store, { create: false }).branch("main");
    for (const e of meta.entries) expect(images, `branch history names CRID ${e.crid}`).toContain(join(store, "branches", "main", `${e.crid}.crimg`));
    const recorded = new Set(meta.entries.map((e) => join(store, "branches", "main", `${e.crid}.crimg`)));
    const orphans = images.filter((p) => !recorded.has(p));
    if (orphans.length) console.log(`images in the store that the branch history does not name: ${orphans.join(", ")}`);

    // cr still works, and the chain of its new image resolves and verifies completely.
    const after = await runCli(args);
    expect(after.code, `cr snapshot after the kills: ${after.stderr}`).toBe(0);
    const crid = BigInt(String((JSON.parse(after.stdout) as { crid: string | number }).crid));
    expect(await verifyChain(store, crid)).toBeGreaterThan(BALLAST_MIB * 256);
    await checkStore(store);

    const end = await report(t);
    expect(end.errors, end.line).toBe(0);
    expect(end.signals, end.line).toBe(0);
    const exitLine = await t.command("exit", 10_000);
    expect((await t.waitExit(10_000)).code).toBe(0);
    expect(readFileSync(outfile, "utf8")).toBe(`${exitLine}\n`);
    expect(readdirSync(dir).sort()).toEqual(["out.txt", "store"]);
  }, 180_000);
});
