import { describe, expect, it } from "vitest";
import { FormatError } from "./errors.js";
import { failAt } from "./framing.js";
import { CHUNK_TYPES, ProcessSchema, VmasSchema } from "./records.js";
import { array, bytes, decode, encode, i32, string, struct, u16, u32, u64, u8 } from "./schema.js";
import { sampleProcess, sampleVmas } from "./image.test-util.js";

const fail = failAt({ path: "<test>", crid: 5n }, 1000, "test meta");

describe("schema DSL", () => {
  it("round-trips every primitive and composite at their limits", () => {
    const S = struct("all", { a: u8, b: u16, c: u32, d: u64, e: i32, f: string, g: bytes, h: array(struct("p", { x: u8, y: string })) });
    const v = { a: 255, b: 65535, c: 2 ** 32 - 1, d: 2n ** 64n - 1n, e: -(2 ** 31), f: "žluťoučký 🐎", g: new Uint8Array([0, 1, 255]), h: [{ x: 1, y: "" }, { x: 2, y: "b" }] };
    const enc = encode(S, v);
    expect(enc.length).toBe(S.measure(v));
    expect(decode(S, enc, fail)).toEqual(v);
    expect(decode(ProcessSchema, encode(ProcessSchema, sampleProcess), fail)).toEqual(sampleProcess);
    expect(decode(VmasSchema, encode(VmasSchema, sampleVmas), fail)).toEqual(sampleVmas);
  });

  it("refuses out-of-range values when encoding, naming the field", () => {
    expect(() => encode(struct("s", { n: u8 }), { n: 256 })).toThrow(/s\.n: value 256 does not fit u8/);
    expect(() => encode(struct("s", { n: u64 }), { n: -1n })).toThrow(RangeError);
  });

  it("turns every length or count past the record into a FormatError with the absolute offset, never a RangeError", () => {
    const enc = encode(ProcessSchema, sampleProcess);
    for (let n = 0; n < enc.length; n++) {
      expect(() => decode(ProcessSchema, enc.subarray(0, n), fail)).toThrow(FormatError);
    }
    // A huge array count is refused before allocating.
    const huge = new Uint8Array([0xff, 0xff, 0xff, 0xff]);
    let err: FormatError | undefined;
    try {
      decode(array(u64), huge, fail);
    } catch (e) {
      err = e as FormatError;
    }
    expect(err).toBeInstanceOf(FormatError);
    expect(err!.offset).toBe(1000);
    expect(err!.message).toMatch(/^image <test> \(CRID 5\) at offset 1000: test meta: array of 4294967295 u64/);
    // Trailing bytes and invalid UTF-8 are errors too.
    expect(() => decode(u8, new Uint8Array([1, 2]), fail)).toThrow(/trailing bytes/);
    expect(() => decode(string, new Uint8Array([2, 0, 0, 0, 0xff, 0xfe]), fail)).toThrow(/valid UTF-8/);
  });

  it("declares every record layout once in a registry with unique type numbers", () => {
    expect(new Set(CHUNK_TYPES.map((t) => t.type)).size).toBe(CHUNK_TYPES.length);
    expect(CHUNK_TYPES.filter((t) => t.optional).map((t) => t.name)).toEqual(["TRACKER"]);
  });
});
