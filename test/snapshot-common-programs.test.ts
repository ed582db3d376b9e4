// An internal error on a live process is a defect in cr (issue 16): snapshots of common programs
// at random moments, a full image then increments until the program ends, each either succeed
// or fail with one line (the program ended meanwhile), never with "internal error".
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { cleanupTmp, sleep, tmpDir } from "./harness.js";
import { makeWordText, python3Binary, startWorkload, type Run, type Workload } from "./restart-helpers.js";

let dir: string;
const workloads: Workload[] = [];

/** Each program runs ~1-2 s here: long enough for several snapshots at random moments. */
beforeAll(() => {
  dir = tmpDir("cr-common-");
  const words = join(dir, "words.txt");
  makeWordText(words, 1_200_000, 10);
  const times = (n: number) => Array<string>(n).fill(words);
  writeFileSync(join(dir, "count.py"), "import sys, collections\nc = collections.Counter()\nfor _ in range(8):\n    c.update(open(sys.argv[1]).read().split())\nprint(len(c))\n");
  workloads.push(
    { name: "xz", command: "xz", args: ["-6", "-T1", "-c", words] },
    { name: "gzip", command: "gzip", args: ["-9", "-c", ...times(7)] },
    { name: "bzip2", command: "bzip2", args: ["-c", ...times(3)] },
    { name: "python3", command: python3Binary(), args: [join(dir, "count.py"), words] },
    { name: "perl", command: "perl", args: ["-ne", "$h{$_}++ for split; END { print scalar(keys %h), qq(\\n) }", ...times(20)] }, // 10 copies ended before a loaded machine's first snapshot
    { name: "sort", command: "sort", args: ["-S", "4M", ...times(16)] },
    { name: "sha256sum", command: "sha256sum", args: times(150) }, // ~2 s: 30 copies were hashed before a snapshot could start
    { name: "awk", command: "awk", args: ["{ for (i = 1; i <= NF; i++) c[$i]++ } END { print length(c) }", ...times(10)] },
  );
});
afterAll(() => cleanupTmp());

/** Snapshots `run` at random moments until it ends: the first full, then increments. */
async function snapshotUntilEnd(run: Run, store: string): Promise<{ args: string[]; code: number | null; stderr: string }[]> {
  const results = [];
  let ended = false;
  void run.exited.then(() => (ended = true));
  for (let i = 0; !ended && i < 4; i++) {
    await sleep(Math.random() * 250);
    const args = ["snapshot", "--store", store, ...(i > 0 ? ["--incremental"] : []), String(run.pid)];
    results.push({ args, ...(await runCli(args)) });
  }
  return results;
}

describe("snapshots of common programs at random moments", () => {
  for (const name of ["xz", "gzip", "bzip2", "python3", "perl", "sort", "sha256sum", "awk"]) {
    it(`${name}: each snapshot succeeds or says in one line why not, never an internal error`, async () => {
      const w = workloads.find((x) => x.name === name)!;
      const run = startWorkload(w, dir, "snap");
      try {
        const results = await snapshotUntilEnd(run, join(dir, `store-${name}`));
        expect(results.filter((r) => r.code === 0).length, `no snapshot of ${name} succeeded: ${results.map((r) => r.stderr.trim()).join("; ")}`).toBeGreaterThan(0);
        for (const r of results) {
          const what = `cr ${r.args.join(" ")}: ${r.stderr}`;
          expect(r.stderr, what).not.toMatch(/internal error/);
          expect([0, 1], what).toContain(r.code);
          if (r.code !== 0) expect(r.stderr.trim().split("\n"), what).toHaveLength(1);
        }
      } finally {
        run.child.kill("SIGKILL");
        await run.exited;
      }
    });
  }
});
