/**
 * What `cr log` reads, the store and its branch histories, as an entry of its own: none of it
 * loads the image format (its reader, hashes and codecs), so the command starts fast.
 */
export { Store, storeDir } from "./store/store.js";
export { branchHistory, storeGraph } from "./store/history.js";
