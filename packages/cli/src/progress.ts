/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal (never in pipes,
 * logs or tests). Redraws at most every 100 ms; done() clears the line.
 */
export interface Progress {
  update(done: number, total: number): void;
  done(): void;
}

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  let drawn = false;
  const started = Date.now();
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const fraction = total > 0 ? Math.min(1, done / total) : 0;
      const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 30));
      const filled = Math.round(fraction * width);
      const rate = done / Math.max(0.001, (now - started) / 1000) / 2 ** 20;
      stream.write(`\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${rate.toFixed(0)} MiB/s`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write("\r\x1b[K");
    },
  };
}
