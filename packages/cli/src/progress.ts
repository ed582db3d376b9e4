/**
 * A one-line progress bar on stderr for work that takes a while: what is being done, how far
 * (bytes), how fast. Drawn only when stderr is a terminal (never in pipes, logs or tests), and
 * only once the work has run for a second, so that quick commands never flash one
 * ($CR_PROGRESS_AFTER_MS sets that delay). Redrawn at most every 100 ms; cleared when a phase
 * reaches its total and by done(). Core reports once per block or batch: an update that does
 * not draw costs a clock read.
 */
import { CrError } from "@cr/core/names";
import { formatBytes } from "./output.js";

export interface Progress {
  /** `done` of `total` bytes; `phase` says what is being done ("filling memory"). */
  update(done: number, total: number, phase?: string): void;
  /** Clears the bar; call it before writing anything else to the terminal. */
  done(): void;
}

const DEFAULT_AFTER_MS = 1000;
const REDRAW_MS = 100;
const CLEAR = "\r\x1b[K";

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, done() {} };
  const after = delayMs();
  const started = Date.now();
  let drawnAt = 0;
  let shown = false;
  // A phase's rate counts from its first update.
  let phase = { name: "", since: started, from: 0 };
  const clear = () => {
    if (shown) stream.write(CLEAR);
    shown = false;
  };
  return {
    update(done, total, name = "") {
      const now = Date.now();
      if (name !== phase.name) phase = { name, since: now, from: done };
      if (done >= total) return clear();
      if (now - started < after || now - drawnAt < REDRAW_MS) return;
      drawnAt = now;
      const rate = (done - phase.from) / Math.max(0.001, (now - phase.since) / 1000);
      stream.write(`\r${barLine(name ? `${label}: ${name}` : label, done, total, rate, (stream.columns || 80) - 1)}\x1b[K`);
      shown = true;
    },
    done: clear,
  };
}

/** "restart: filling memory [#####-----]  50% 512 MiB of 1.00 GiB, 800 MiB/s", cut to `width`. */
function barLine(what: string, done: number, total: number, rate: number, width: number): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const numbers = `${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(done)} of ${formatBytes(total)}, ${formatBytes(rate)}/s`;
  const room = Math.min(30, width - what.length - numbers.length - 4);
  if (room < 5) return `${what} ${numbers}`.slice(0, width);
  const filled = Math.round(fraction * room);
  return `${what} [${"#".repeat(filled)}${"-".repeat(room - filled)}] ${numbers}`;
}

/** $CR_PROGRESS_AFTER_MS, else a second. */
function delayMs(): number {
  const value = process.env.CR_PROGRESS_AFTER_MS;
  if (value === undefined) return DEFAULT_AFTER_MS;
  if (!/^[0-9]+$/.test(value)) throw new CrError(`CR_PROGRESS_AFTER_MS=${value} is not a number of milliseconds`, { code: "USAGE" });
  return Number(value);
}
