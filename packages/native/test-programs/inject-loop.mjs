// Child process for the kill-safety tests: drives the addon directly (no TypeScript) and is
// SIGKILLed by the test at random moments.
//   node inject-loop.mjs PID loop     freeze, inject getpid twice into every thread, then run
//                                     getpid and gettid as queries in it, thaw, forever
//   node inject-loop.mjs PID orphan   freeze, then inject a 300 ms ppoll and get killed in it
//   node inject-loop.mjs PID parked   freeze, inject getpid into the leader (which stays parked
//                                     after it), and get killed there
//   node inject-loop.mjs PID queried  freeze, run getpid as a query in the leader (which waits
//                                     in the query loop after it), and get killed there
//   node inject-loop.mjs PID slow     freeze, run a 500 ms ppoll as a query in the leader
//                                     (the test holds this process up meanwhile), print how it
//                                     ended, thaw
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const addon = require("../build/Release/cr_native.node");
addon.setErrorClass(class NativeError extends Error {
  constructor(message, props) {
    super(message);
    Object.assign(this, props);
  }
});

const SYS_getpid = 39;
const SYS_gettid = 186;
const SYS_ppoll = 271;

/** Runs the syscalls `nrs`, without arguments or output, as queries in frozen thread `tid`. */
function query(tid, nrs) {
  const calls = new BigUint64Array(nrs.length * 7);
  nrs.forEach((nr, i) => (calls[i * 7] = BigInt(nr)));
  return addon.injectQueries(tid, calls, new Uint32Array(nrs.length * 2));
}
const [pid, mode] = [Number(process.argv[2]), process.argv[3]];

function loop() {
  console.log("started");
  for (;;) {
    const tids = addon.freeze(pid, 5000);
    for (const tid of tids) {
      for (let i = 0; i < 2; i++) {
        const result = addon.injectSyscall(tid, SYS_getpid, []);
        if (result !== BigInt(pid)) {
          console.log(`FAIL getpid returned ${result}`);
          process.exit(3);
        }
      }
      const { results } = query(tid, [SYS_getpid, SYS_gettid]);
      if (results[0] !== BigInt(pid) || results[1] !== BigInt(tid)) {
        console.log(`FAIL queries returned ${results}`);
        process.exit(3);
      }
    }
    addon.thaw(tids);
  }
}

function orphan() {
  const [tid] = addon.freeze(pid, 5000);
  const { address } = addon.scratch(tid);
  const timespec = Buffer.alloc(16);
  timespec.writeBigInt64LE(300_000_000n, 8);
  addon.writeMemory(pid, address, timespec);
  console.log("injecting");
  addon.injectSyscall(tid, SYS_ppoll, [0n, 0n, address, 0n, 8n]);
  console.log("FAIL not killed");
}

function parked() {
  const [tid] = addon.freeze(pid, 5000);
  addon.injectSyscall(tid, SYS_getpid, []);
  console.log("parked");
  setInterval(() => {}, 1000);
}

function queried() {
  const [tid] = addon.freeze(pid, 5000);
  query(tid, [SYS_getpid]);
  console.log("queried");
  setInterval(() => {}, 1000);
}

function slow() {
  const [tid] = addon.freeze(pid, 5000);
  const timeout = addon.scratch(tid).address + 8n; // the query loop's own 500 ms timespec (trampoline.h)
  const calls = new BigUint64Array(7);
  calls.set([BigInt(SYS_ppoll), 0n, 0n, timeout, 0n, 8n]);
  console.log("querying");
  try {
    addon.injectQueries(tid, calls, new Uint32Array(2));
    console.log("ended");
  } catch (error) {
    console.log(`failed ${error.code}`);
  }
  addon.thaw([tid]);
  console.log("thawed");
}

if (mode === "orphan") orphan();
else if (mode === "slow") slow();
else if (mode === "queried") queried();
else if (mode === "parked") parked();
else loop();
