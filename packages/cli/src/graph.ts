/**
 * Draws a history like `git log --graph`: newest first, one column per line of history that
 * is still waiting for its parent; lines that meet at a common parent are joined with `|/`.
 * A line ends at a row whose parent is not in the history (a full image: the first of a
 * process, or the oldest kept after a coalesce), and the next line never starts in the column
 * just left, where it would look like that row's parent.
 */
export interface GraphRow {
  id: string;
  parent: string | null;
  text: string;
}

export function drawGraph(rows: GraphRow[]): string[] {
  const present = new Set(rows.map((r) => r.id));
  const columns: (string | null)[] = [];
  const out: string[] = [];
  let ended = -1; // the column whose line ended on the row above
  for (const row of rows) {
    let col = columns.indexOf(row.id);
    if (col === -1) col = freeColumn(columns, ended);
    const joining = columns.map((c, i) => (c === row.id && i !== col ? i : -1)).filter((i) => i >= 0);
    if (joining.length > 0) {
      out.push(trim(columns.map((c, i) => (joining.includes(i) ? "/" : c === null ? " " : "|")).join(" ")));
      for (const i of joining) columns[i] = null;
    }
    const cells = columns.map((c, i) => (i === col ? "*" : c === null ? " " : "|"));
    out.push(`${trim(cells.join(" "))} ${row.text}`);
    const continues = row.parent !== null && present.has(row.parent);
    columns[col] = continues ? row.parent : null;
    ended = continues ? -1 : col;
    while (columns.length > 0 && columns[columns.length - 1] === null) columns.pop();
  }
  return out;
}

/** The leftmost column no line holds, other than `avoid`; a new one at the right if none. */
function freeColumn(columns: (string | null)[], avoid: number): number {
  const free = columns.findIndex((c, i) => c === null && i !== avoid);
  if (free !== -1) return free;
  while (columns.length <= avoid) columns.push(null);
  return columns.push(null) - 1;
}

function trim(s: string): string {
  return s.replace(/\s+$/, "");
}
