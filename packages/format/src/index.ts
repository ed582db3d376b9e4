/** @cr/format: the cr image format (see docs/format.md). */
export { FormatError, type FormatErrorContext } from "./errors.js";
export { xxh64 } from "./hash.js";
export * as schema from "./schema.js";
export type { Infer, Schema } from "./schema.js";
export {
  CHUNK_TYPES,
  ChunkFlags,
  ChunkType,
  type ChunkTypeInfo,
  type ChunkTypeName,
  chunkTypeInfo,
  type FdRecord,
  type FileContentsRecord,
  FileKind,
  type FilesRecord,
  type FileLockRecord,
  LockKind,
  type LocksRecord,
  LockType,
  type MemoryAttrsRecord,
  type PipeDataRecord,
  type PipeSizesRecord,
  type FdOwnersRecord,
  type RemovedFilesRecord,
  type Header,
  ImageKind,
  type IndexEntry,
  PageCodec,
  PipeEnd,
  type ItimerRecord,
  type PosixTimerRecord,
  type ProcessAttrsRecord,
  type ProcessRecord,
  type ProcessTableRecord,
  type TableEntry,
  MemberState,
  type MemberRecord,
  RECORD_TYPE_NAMES,
  type RecordTypeName,
  type RecordTypes,
  type SeccompRecord,
  type Reference,
  type Sigaction,
  type SharedFdsRecord,
  type TreeSharedFdsRecord,
  type EventfdsRecord,
  type TimerfdsRecord,
  type SignalfdsRecord,
  type ShmemFileRecord,
  ShmemFileKind,
  type SignalsRecord,
  SocketOption,
  SocketState,
  type ThreadRecord,
  type TimersRecord,
  type TrackerRecord,
  type UnixSocketRecord,
  type UnixSocketsRecord,
  VmaFlags,
  type VmaRecord,
  type VmasRecord,
} from "./records.js";
export { FORMAT_MAJOR, FORMAT_MINOR, MAX_META_LENGTH } from "./framing.js";
export {
  byAddress,
  type DataRun,
  type FileRun,
  holdsBytes,
  type PageMapEntry,
  PageSource,
  type RefRun,
  referencedCrids,
  type ZeroRun,
} from "./pagemap.js";
export {
  checkColumnOrder,
  type ColumnMemory,
  ColumnsBuilder,
  columnEntries,
  derivePageMap,
  type DerivePageMapOptions,
  emptyColumns,
  entryColumns,
  inheritColumns,
  mergeColumns,
  type PageColumns,
  pagesWhere,
  type PageSpan,
  SOURCE_NAME,
} from "./pagemap-columns.js";
export { type FinishResult, type ImageHeaderInput, type ImageSink, ImageWriter, type ImageWriterOptions, LZ4_KEEP_RATIO, MAX_BLOCK_BYTES, type PartSink } from "./writer.js";
export { DIRECT_ALIGN, type FileSpan, ImageReader, ImageSection, type PagesBlock, verifyImageFile, type VerifyResult } from "./reader.js";
export { type ImageEvent, readImageStream } from "./parse.js";
export { type ByteSource, FdSource, StreamSource } from "./source.js";
export { STREAM_DATA_BYTES, type StreamHeader, type StreamImage, StreamReader, StreamWriter } from "./export-stream.js";
export { type OpenImage, type ResolvedChain, type ResolvedRun, resolveChain, resolvedRuns, resolveSections } from "./chain.js";
export { lz4Bound, lz4Compress, lz4Decompress, lz4Encode, Lz4Error } from "./lz4.js";
