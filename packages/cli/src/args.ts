import { InvalidArgumentError, Option } from "commander";

/** Options every store command takes. */
export function storeOption(): Option {
  return new Option("--store <dir>", "the store directory (default: $CR_STORE, else ./.cr)");
}

export function parsePid(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a process id`);
  return Number(value);
}

export function parseCrid(value: string): bigint {
  if (!/^[1-9][0-9]*$/.test(value) || BigInt(value) >= 1n << 64n) throw new InvalidArgumentError(`"${value}" is not a CRID (a positive integer)`);
  return BigInt(value);
}

const MAX_INTERVAL_MS = 30 * 24 * 3600_000;

/** "1s", "500ms", "2m", or a bare number of seconds. */
export function parseDuration(value: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(value);
  if (!match) throw new InvalidArgumentError(`"${value}" is not a duration (e.g. 1s, 500ms, 2m)`);
  const scale = match[2] === "ms" ? 1 : match[2] === "m" ? 60_000 : 1000;
  const ms = Number(match[1]) * scale;
  if (ms < 10) throw new InvalidArgumentError(`interval ${value} is shorter than 10ms`);
  if (ms > MAX_INTERVAL_MS) throw new InvalidArgumentError(`interval ${value} is longer than 30 days (for rarer snapshots, run \`cr snapshot\` from cron)`);
  return ms;
}

/** `--inherit-fd FD` of check and snapshot (repeatable): a descriptor the user hands over at restart. */
export function parseHandedOver(value: string, previous: ReadonlySet<number>): Set<number> {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a descriptor number`);
  return new Set(previous).add(Number(value));
}

/** The help of `--inherit-fd FD` for check and snapshot. */
/** --tcp-established, of cr snapshot and cr check. */
export const TCP_ESTABLISHED_HELP = "save established TCP connections as they are (TCP_REPAIR; with --kill): locked meanwhile (nftables), they go on after cr restart without the peer reconnecting";

/** --tcp-close, of cr snapshot and cr check. */
export const TCP_CLOSE_HELP = "save TCP connections as closed: the restarted process finds an unconnected socket on their descriptors (their peers see them end when the process does)";

export const HANDED_OVER_HELP = "descriptor FD will be given at restart (cr restart --inherit-fd FD:PATH): whatever it is now (a socket to outside the tree) is not saved (repeatable)";
