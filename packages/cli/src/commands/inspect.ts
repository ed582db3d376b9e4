import type { Command } from "commander";
import { existsSync } from "node:fs";
import { CrError, describeImage, DEFAULT_BRANCH, Store, storeDir, type ImageDescription } from "@cr/core";
import { storeOption } from "../args.js";
import { formatBytes, table, toJson } from "../output.js";

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("Decode an image: header, references, records and page map.")
    .argument("<image>", "a CRID of the store, or the path of an image file")
    .addOption(storeOption())
    .option("--branch <name>", "branch whose image to read", DEFAULT_BRANCH)
    .option("--json", "print the decoded image as JSON")
    .addHelpText("after", "\nExamples:\n  cr inspect 7\n  cr inspect ./.cr/branches/main/7.crimg --json")
    .action((image: string, options: { store?: string; branch: string; json?: boolean }) => {
      let path = image;
      if (/^[0-9]+$/.test(image) && !existsSync(image)) {
        // A CRID of the store: it must be in the branch's history and its file the image recorded there.
        const store = Store.open(storeDir(options.store), { create: false });
        const crid = BigInt(image);
        store.openRecorded(options.branch, store.entry(options.branch, crid)).close();
        path = store.imagePath(options.branch, crid);
      } else if (!existsSync(image)) {
        throw new CrError(`no image file ${image}`, { code: "ENOENT", path: image });
      }
      const description = describeImage(path);
      console.log(options.json ? toJson(description) : render(description));
    });
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
