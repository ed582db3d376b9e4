// Output equivalence of incremental chains of real programs (as restart-chains.test.ts): python3
// with a growing dict, and xz compressing a text, each restarted from the middle of its chain.
import { describeChains } from "./chains.js";

describeChains(["python3-long", "xz"]);
