/**
 * How long work says how far it is: `done` of `total` bytes, and what it is doing now
 * ("filling memory"). Called once per block or batch, never per page, so that a caller may
 * draw from it; what it draws is the caller's affair.
 */
export type OnProgress = (done: number, total: number, phase: string) => void;
