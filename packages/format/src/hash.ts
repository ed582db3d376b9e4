import xxhash from "xxhash-wasm";

/**
 * xxHash64 (seed 0) through xxhash-wasm. Loaded once at module load (top-level await), so
 * every other function of the package can hash synchronously.
 *
 * Measured here: h64Raw hashes 1 MiB buffers at ~7 GiB/s (copy into wasm memory included),
 * so hashing a block in one call costs about a third of a page-cache write: no need for a
 * hand-written wasm hasher.
 */
const api = await xxhash();

export const xxh64: (data: Uint8Array) => bigint = api.h64Raw;

export interface Hasher64 {
  update(data: Uint8Array): Hasher64;
  digest(): bigint;
}

export function createXxh64(): Hasher64 {
  return api.create64(0n);
}

export const xxh32: (data: Uint8Array) => number = api.h32Raw;
