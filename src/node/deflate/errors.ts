// The errors compress() / decompress() report, and the callback they report through.
//
// Errors from decompress(): an inflated message larger than maxPayload is
// aborted as soon as the running total passes it (the zlib stream is
// destroyed; at most one output chunk past the limit is ever produced) with
// code 1009; data zlib cannot inflate fails with code 1007 (Invalid frame
// payload data): RFC 7692 §8 only says to _Fail the WebSocket Connection_,
// and ws uses 1007 too.

/** Completion callback of compress() / decompress(); called exactly once, never synchronously. */
export type DeflateCallback = (err: PerMessageDeflateError | null, result?: Buffer) => void;

/** Why compress() / decompress() failed; `code` (= `closeCode`) is the close code to fail the connection with. */
export class PerMessageDeflateError extends Error {
  /** Close code: 1009 too big, 1007 corrupt data, 1011 anything else. */
  readonly code: number;
  /** Same as `code`, the field name codec's ProtocolError uses. */
  readonly closeCode: number;
  /** The string code ws would report (WS_ERR_UNSUPPORTED_MESSAGE_LENGTH, a zlib Z_* code, ...). */
  readonly wsCode: string;
  constructor(message: string, code: number, wsCode: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PerMessageDeflateError';
    this.code = code;
    this.closeCode = code;
    this.wsCode = wsCode;
  }
}

export const tooBig = (): PerMessageDeflateError =>
  new PerMessageDeflateError('Max payload size exceeded', 1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
export const corrupt = (e: Error): PerMessageDeflateError =>
  new PerMessageDeflateError(`Invalid compressed data: ${e.message}`, 1007, zlibCode(e, 'Z_DATA_ERROR'), e);
export const internal = (e: unknown, message = 'permessage-deflate failed'): PerMessageDeflateError =>
  new PerMessageDeflateError(e instanceof Error ? `${message}: ${e.message}` : message, 1011, zlibCode(e, 'ERR_PERMESSAGE_DEFLATE'), e);
export const closedError = (): PerMessageDeflateError =>
  new PerMessageDeflateError('The permessage-deflate instance was cleaned up', 1011, 'ERR_PERMESSAGE_DEFLATE_CLOSED');

function zlibCode(e: unknown, fallback: string): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : fallback;
}
