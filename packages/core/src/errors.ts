/** What a CrError is about: every field that helps a user find the problem. */
export interface CrErrorContext {
  /** errno name ("ESRCH") or a cr code ("UNSUPPORTED", "BAD_CRID", ...). */
  code: string;
  pid?: number;
  /** The descriptor it is about, in process `pid`. */
  fd?: number;
  crid?: bigint;
  path?: string;
  offset?: number | bigint;
  /** Restart: the step that failed ("map memory", ...). */
  step?: string;
  cause?: unknown;
}

/**
 * The one error type of cr's core. The CLI prints `message` as the single line a user sees,
 * so the message names what failed and where.
 */
export class CrError extends Error {
  readonly code: string;
  readonly pid?: number;
  readonly fd?: number;
  readonly crid?: bigint;
  readonly path?: string;
  readonly offset?: number | bigint;
  readonly step?: string;

  constructor(message: string, context: CrErrorContext) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = "CrError";
    this.code = context.code;
    this.pid = context.pid;
    this.fd = context.fd;
    this.crid = context.crid;
    this.path = context.path;
    this.offset = context.offset;
    this.step = context.step;
  }
}

/** The errno name of a Node system error ("ENOENT"), or undefined for anything else. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
