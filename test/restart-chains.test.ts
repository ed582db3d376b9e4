// Output equivalence of incremental chains (issues 4 and 16): a workload snapshotted 1 full + 20
// incremental times at random moments, killed, and restarted from the middle of its chain writes
// what an uninterrupted run writes. (Single snapshots: restart-equivalence.test.ts; python3 and xz
// chains: restart-chains-programs.test.ts, a file of its own so that both run side by side.)
import { describeChains } from "./chains.js";

describeChains(["heap_checksum-long", "threads_condvar-long", "python3-shm"]);
