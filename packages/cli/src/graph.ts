/**
 * Draws a history like `git log --graph`: newest first, one column per line of history that
 * is still waiting for its parent; lines that meet at a common parent are joined with `|/`.
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
  for (const row of rows) {
    let col = columns.indexOf(row.id);
    if (col === -1) {
      col = columns.indexOf(null);
      if (col === -1) col = columns.push(null) - 1;
    }
    const joining = columns.map((c, i) => (c === row.id && i !== col ? i : -1)).filter((i) => i >= 0);
    if (joining.length > 0) {
      out.push(trim(columns.map((c, i) => (joining.includes(i) ? "/" : c === null ? " " : "|")).join(" ")));
      for (const i of joining) columns[i] = null;
    }
    const cells = columns.map((c, i) => (i === col ? "*" : c === null ? " " : "|"));
    out.push(`${trim(cells.join(" "))} ${row.text}`);
    columns[col] = row.parent !== null && present.has(row.parent) ? row.parent : null;
    while (columns.length > 0 && columns[columns.length - 1] === null) columns.pop();
  }
  return out;
}

function trim(s: string): string {
  return s.replace(/\s+$/, "");
}
