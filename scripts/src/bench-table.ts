/** One line of the benchmark table. */
export interface Row {
  scenario: string;
  value: string;
  target?: string;
}

export function printTable(rows: Row[]): void {
  const header: Row = { scenario: "scenario", value: "measured", target: "target" };
  const all = [header, ...rows];
  const w1 = Math.max(...all.map((r) => r.scenario.length));
  const w2 = Math.max(...all.map((r) => r.value.length));
  const line = (r: Row) => `| ${r.scenario.padEnd(w1)} | ${r.value.padStart(w2)} | ${r.target ?? ""}`.trimEnd();
  console.log(line(header));
  console.log(`|${"-".repeat(w1 + 2)}|${"-".repeat(w2 + 2)}|`);
  for (const r of rows) console.log(line(r));
}

export function gbps(bytes: number, ms: number): string {
  return `${(bytes / ms / 1e6).toFixed(2)} GB/s`;
}

export function median(values: number[]): number {
  return percentile(values, 0.5);
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}
