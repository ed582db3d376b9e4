import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { freeze, scratch, thaw } from "@cr/native";
import { closeHistorySlot, historyBroken, historyCommitted, openHistorySlot, untrustedReason, type HistorySlot } from "./history.js";

let shell: ChildProcess | undefined;
afterEach(() => {
  shell?.kill("SIGKILL");
  shell = undefined;
});

/** A shell waiting for a line, then exec'ing sleep; and its history slot, broken, as a snapshot leaves it. */
function frozenSlot(): { pid: number; slot: HistorySlot } {
  shell = spawn("sh", ["-c", "read line; exec sleep 30"], { stdio: ["pipe", "ignore", "ignore"] });
  const pid = shell.pid!;
  const tids = freeze(pid);
  try {
    const slot = openHistorySlot(pid, scratch(pid));
    historyBroken(slot);
    return { pid, slot };
  } finally {
    thaw(tids);
  }
}

async function untilComm(pid: number, comm: string): Promise<void> {
  while (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== comm) await sleep(5);
}

describe("the tracker history slot", () => {
  it("continues from the image committed into it", () => {
    const { pid, slot } = frozenSlot();
    try {
      expect(untrustedReason(slot, { identity: 7n })).toMatch(/does not continue/);
      historyCommitted(slot, 7n);
      expect(untrustedReason(slot, { identity: 7n })).toBeUndefined();
      expect(untrustedReason(slot, { identity: 8n })).toMatch(/does not continue/);
      expect(untrustedReason(slot, null)).toBe("no parent image");
    } finally {
      closeHistorySlot(slot);
    }
    expect(readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("sh");
  });

  it("committed after the process exec'd reaches nothing: the new program is not written into", async () => {
    const { pid, slot } = frozenSlot();
    try {
      shell!.stdin!.write("go\n");
      await untilComm(pid, "sleep");
      historyCommitted(slot, 7n); // the address space it was opened on is gone
    } finally {
      closeHistorySlot(slot);
    }
    expect(readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("sleep");
  });
});
