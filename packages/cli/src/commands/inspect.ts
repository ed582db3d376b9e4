import type { Command } from "commander";
import { existsSync } from "node:fs";
import type { ImageCheck, ImageDescription, ProcessEntry } from "@cr/core";
import { CrError } from "@cr/core/names";
import { storeOption } from "../args.js";
import { formatBytes, table, toJson } from "../output.js";

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("Decode an image: header, each process (threads, mappings with their pages by source, file descriptors, page map), zombies, codec and sizes.")
    .argument("<image>", "a CRID of the store, or the path of an image file")
    .addOption(storeOption())
    .option("--branch <name>", "branch whose image to read (default: main, or a copied branch directory's own)")
    .option("--json", "print the decoded image as JSON")
    .addHelpText("after", "\nExamples:\n  cr inspect 7\n  cr inspect ./.cr/branches/main/7.crimg --json")
    .action(async (image: string, options: { store?: string; branch?: string; json?: boolean }) => {
      const { path, check } = await openForInspection(image, options);
      const { describeImage } = await import("@cr/core");
      const description = describeImage(path);
      const checked = await check();
      console.log(options.json ? toJson({ ...description, check: checked }) : `${render(description)}\n\n${renderCheck(checked)}`);
      // What is broken is an error like any other: one line on stderr, a non-zero exit.
      if (checked.problem !== undefined) throw new CrError(checked.problem, { code: "BAD_IMAGE", path });
    });
}

/** The image's path, and how to check it: by CRID through the store (its REFs too), else the file alone. */
async function openForInspection(image: string, options: { store?: string; branch?: string }): Promise<{ path: string; check: () => Promise<ImageCheck> }> {
  const { checkImageFile, checkStoredImage, openRecorded, Store, storeDir } = await import("@cr/core");
  if (/^[0-9]+$/.test(image) && !existsSync(image)) {
    // A CRID of the store: it must be in the branch's history and its file the image recorded there.
    const store = Store.open(storeDir(options.store), { create: false });
    const crid = BigInt(image);
    const branch = options.branch ?? store.defaultBranch;
    openRecorded(store, branch, store.entry(branch, crid)).close();
    return { path: store.imagePath(branch, crid), check: () => checkStoredImage(store, branch, crid) };
  }
  if (!existsSync(image)) throw new CrError(`no image file ${image}`, { code: "ENOENT", path: image });
  return { path: image, check: () => checkImageFile(image) };
}

/** What was checked and what was not: a damaged image is never shown as if it were whole. */
function renderCheck(c: ImageCheck): string {
  const scope = c.referencesChecked
    ? "every hash of the image, its identity and parent, every REF resolved through the store (the REF targets' own page data: cr verify CRID)"
    : "every hash of the file and its identity (not its REFs: inspect it by CRID to resolve them through its store)";
  return `checked   ${scope}: ${c.problem === undefined ? "ok" : "DAMAGED (the error below says where)"}`;
}

function render(d: ImageDescription): string {
  const lines = [
    `image     ${d.path}`,
    `CRID      ${d.crid}${d.parent ? ` (incremental on ${d.parent})` : " (full)"}`,
    `identity  ${d.identity}`,
    `created   ${d.created} by cr ${d.toolVersion} on ${d.arch} ${d.kernelRelease}`,
    `size      ${formatBytes(d.bytes)}: page data ${formatBytes(d.sizes.pageData)}, page map ${formatBytes(d.sizes.pageMap)}, records ${formatBytes(d.sizes.records)}, other ${formatBytes(d.sizes.other)}; page size ${d.pageSize}`,
    `codec     ${d.blocks.map((b) => `${b.codec}: ${b.blocks} block(s), ${b.pages} pages in ${formatBytes(b.bytes)}`).join("; ") || "no page data"}`,
  ];
  if (d.references.length) lines.push(`refers to ${d.references.map((r) => `${r.crid} (${r.identity})`).join(", ")}`);
  // A tree image: a part per running process, the root first, then the zombies.
  const tree = d.processes.length + d.zombies.length > 1;
  if (tree) lines.push(`tree      ${d.processes.length} running process(es), ${d.zombies.length} zombie(s)`);
  d.processes.forEach((p, i) => {
    if (tree) lines.push("", `=== process ${p.pid ?? "?"} (${i + 1} of ${d.processes.length}) ===`);
    lines.push(...renderProcess(p, d.pageSize));
  });
  if (d.zombies.length) lines.push("", "ZOMBIES", table(["PID", "PPID", "PGID", "SID", "EXIT"], d.zombies.map((z) => [String(z.pid), String(z.ppid), String(z.pgid), String(z.sid), z.exit])));
  lines.push("", "CHUNKS", table(["CHUNK", "COUNT"], Object.entries(d.chunks).map(([name, count]) => [name, String(count)])));
  return lines.join("\n");
}

/** One process: who it is, its threads, mappings, descriptors and pages by source. */
function renderProcess(d: ProcessEntry, pageSize: number): string[] {
  const lines: string[] = [];
  const p = d.process;
  if (p) {
    lines.push(`process   ${p.pid} (${p.comm}) ${p.exe}, ${d.threads.length} thread(s), ${d.mappings.length} mappings, ${d.fds.length} fds`);
    lines.push(`          parent ${p.ppid}, group ${p.pgid}, session ${p.sid}, uid ${p.uid} (effective ${p.euid}), gid ${p.gid} (effective ${p.egid}), in ${p.cwd}`);
    lines.push(`          command line: ${p.cmdline.map((a) => JSON.stringify(a)).join(" ")}`);
  }
  const section = (title: string, header: string[], rows: string[][]) => lines.push("", title, table(header, rows));
  section("THREADS", ["TID", "SIGMASK", "PENDING", "ALTSTACK", "RSEQ"], d.threads.map((t) => [String(t.tid), t.sigmask, String(t.pendingSignals), t.altstack ? `${t.altstack.sp} +${t.altstack.size}` : "-", t.rseq ?? "-"]));
  section(
    "MAPPINGS",
    ["START-END", "PROT", "DATA", "REF", "ZERO", "FILE", "FLAGS", "OFFSET", "BACKING"],
    d.mappings.map((m) => [`${m.start}-${m.end}`, m.prot, String(m.pages.data), String(m.pages.ref), String(m.pages.zero), String(m.pages.file), m.flags.join(",") || "-", String(m.offset), m.backing]),
  );
  section("FDS", ["FD", "KIND", "ACCESS", "FLAGS", "OFFSET", "PATH"], d.fds.map((f) => [String(f.fd), f.kind, f.access, f.flags.join(",") || "-", String(f.offset), f.path]));
  section("PAGES", ["SOURCE", "RUNS", "PAGES", "BYTES"], d.pageMap.map((s) => [s.source, String(s.runs), String(s.pages), formatBytes(s.pages * pageSize)]));
  return lines;
}
