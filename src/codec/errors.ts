// One place that maps protocol failures to close codes (RFC 6455 §7.4.1) and
// to ws's error codes, so users porting error handling from ws keep working.

/** A protocol violation by the peer; `closeCode` is what the connection closes with. */
export class ProtocolError extends RangeError {
  readonly closeCode: number;
  readonly code: string;
  constructor(message: string, closeCode: number, code: string) {
    super(message);
    this.name = 'ProtocolError';
    this.closeCode = closeCode;
    this.code = code;
  }
}

// Indexed by the E_* reasons of assembly/frames.ts. The messages are ws's (its
// Receiver's), so code that matches on them keeps working; `$op` and `$len` are
// the offending frame's opcode and 7-bit length.
const REASONS: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  ['RSV2 and RSV3 must be clear', 'WS_ERR_UNEXPECTED_RSV_2_3'],
  ['RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1'],
  ['invalid opcode $op', 'WS_ERR_INVALID_OPCODE'],
  ['FIN must be set', 'WS_ERR_EXPECTED_FIN'],
  ['invalid payload length $len', 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'],
  ['RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1'],
  ['invalid opcode 0', 'WS_ERR_INVALID_OPCODE'], // a continuation frame with no message to continue
  ['invalid opcode $op', 'WS_ERR_INVALID_OPCODE'], // a new data frame inside a fragmented message
  ['MASK must be set', 'WS_ERR_EXPECTED_MASK'],
  ['MASK must be clear', 'WS_ERR_UNEXPECTED_MASK'],
  ['payload length not in its minimal form', 'WS_ERR_INVALID_PAYLOAD_LENGTH'],
  ['64-bit payload length with the most significant bit set', 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'],
  ['', 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'],
  ['invalid UTF-8 sequence', 'WS_ERR_INVALID_UTF8'],
  ['RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1'], // on a continuation frame
];
const E_TOO_BIG = 13;

/** The error for a wasm parse failure; `b0`/`b1` are the first two bytes of the offending frame. */
export function errorFromWasm(closeCode: number, reason: number, b0 = 0, b1 = 0): ProtocolError {
  if (reason === E_TOO_BIG) return tooBig();
  const [text, code] = REASONS[reason] ?? ['', 'WS_ERR_INVALID_OPCODE'];
  const message = text.replace('$op', String(b0 & 15)).replace('$len', String(b1 & 127));
  return new ProtocolError(message ? `Invalid WebSocket frame: ${message}` : 'Invalid WebSocket frame', closeCode, code);
}

export function invalidCloseCode(code: number): ProtocolError {
  return new ProtocolError(`Invalid WebSocket frame: invalid status code ${code}`, 1002, 'WS_ERR_INVALID_CLOSE_CODE');
}

export function invalidCloseLength(): ProtocolError {
  return new ProtocolError('Invalid WebSocket frame: invalid payload length 1', 1002, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH');
}

export function invalidUtf8(): ProtocolError {
  return new ProtocolError('Invalid WebSocket frame: invalid UTF-8 sequence', 1007, 'WS_ERR_INVALID_UTF8');
}

export function tooBig(): ProtocolError {
  return new ProtocolError('Max payload size exceeded', 1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
}
