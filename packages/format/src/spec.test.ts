import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { renderSpec, specSections } from "./spec.js";

const docPath = fileURLToPath(new URL("../../../docs/format.md", import.meta.url));

describe("docs/format.md", () => {
  it("carries exactly the tables generated from the schemas and the registry (UPDATE_FORMAT_DOC=1 rewrites them)", () => {
    const doc = readFileSync(docPath, "utf8");
    const rendered = renderSpec(doc);
    if (process.env.UPDATE_FORMAT_DOC === "1" && rendered !== doc) writeFileSync(docPath, rendered);
    else expect(doc).toBe(rendered);
    for (const name of specSections().keys()) expect(doc, `section ${name}`).toContain(`<!-- gen:${name} -->`);
  });
});
