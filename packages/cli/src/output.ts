/** Human-readable output helpers: sizes, durations, tables. JSON output never goes through them. */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 10_000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A left-aligned text table with a header row; numbers are right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^[-+]?[0-9.,]+( \S+)?$/.test(r[i] ?? "")));
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** "CRID 4", "CRIDs 1, 2, 3", or for a long list "CRIDs 1, 2, ..., 40 (40)". */
export function cridList(crids: readonly string[]): string {
  if (crids.length <= 1) return crids.length === 0 ? "no CRIDs" : `CRID ${crids[0]}`;
  const shown = crids.length <= 8 ? crids.join(", ") : `${crids[0]}, ${crids[1]}, ..., ${crids.at(-1)} (${crids.length})`;
  return `CRIDs ${shown}`;
}

/** JSON with bigints as decimal strings (CRIDs are unsigned 64-bit). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2);
}
