import type { Command } from "commander";
import { existsSync } from "node:fs";
import { checkImageFile, checkStoredImage, CrError, describeImage, type ImageCheck, Store, storeDir, type ImageDescription } from "@cr/core";
import { storeOption } from "../args.js";
import { formatBytes, table, toJson } from "../output.js";

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("Decode an image: header, references, records and page map.")
    .argument("<image>", "a CRID of the store, or the path of an image file")
    .addOption(storeOption())
    .option("--branch <name>", "branch whose image to read (default: main, or a copied branch directory's own)")
    .option("--json", "print the decoded image as JSON")
    .addHelpText("after", "\nExamples:\n  cr inspect 7\n  cr inspect ./.cr/branches/main/7.crimg --json")
    .action(async (image: string, options: { store?: string; branch?: string; json?: boolean }) => {
      const { path, check } = await openForInspection(image, options);
      const description = describeImage(path);
      const checked = await check();
      console.log(options.json ? toJson({ ...description, check: checked }) : `${render(description)}\n\n${renderCheck(checked)}`);
      // What is broken is an error like any other: one line on stderr, a non-zero exit.
      if (checked.problem !== undefined) throw new CrError(checked.problem, { code: "BAD_IMAGE", path });
    });
}

/** The image's path, and how to check it: by CRID through the store (its REFs too), else the file alone. */
async function openForInspection(image: string, options: { store?: string; branch?: string }): Promise<{ path: string; check: () => Promise<ImageCheck> }> {
  if (/^[0-9]+$/.test(image) && !existsSync(image)) {
    // A CRID of the store: it must be in the branch's history and its file the image recorded there.
    const store = Store.open(storeDir(options.store), { create: false });
    const crid = BigInt(image);
    const branch = options.branch ?? store.defaultBranch;
    store.openRecorded(branch, store.entry(branch, crid)).close();
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
    `size      ${formatBytes(d.bytes)}, page size ${d.pageSize}`,
  ];
  if (d.process) lines.push(`process   ${d.process.pid} (${d.process.comm}) ${d.process.exe}, ${d.threads} thread(s), ${d.vmas} mappings, ${d.fds} fds`);
  if (d.references.length) lines.push(`refers to ${d.references.map((r) => `${r.crid} (${r.identity})`).join(", ")}`);
  lines.push("", table(["SOURCE", "RUNS", "PAGES", "BYTES"], d.pageMap.map((s) => [s.source, String(s.runs), String(s.pages), formatBytes(s.pages * d.pageSize)])));
  lines.push("", table(["CHUNK", "COUNT"], Object.entries(d.chunks).map(([name, count]) => [name, String(count)])));
  return lines.join("\n");
}
