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

// Indexed by the E_* reasons of assembly/frames.ts.
const REASONS: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  ['Invalid WebSocket frame: RSV2 and RSV3 must be clear', 'WS_ERR_UNEXPECTED_RSV_2_3'],
  ['Invalid WebSocket frame: RSV1 must be clear', 'WS_ERR_UNEXPECTED_RSV_1'],
  ['Invalid WebSocket frame: invalid opcode', 'WS_ERR_INVALID_OPCODE'],
  ['Invalid WebSocket frame: FIN must be set on a control frame', 'WS_ERR_EXPECTED_FIN'],
  ['Invalid WebSocket frame: control frame payload longer than 125 bytes', 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'],
  ['Invalid WebSocket frame: RSV1 must be clear on a control frame', 'WS_ERR_UNEXPECTED_RSV_1'],
  ['Invalid WebSocket frame: continuation frame with no message to continue', 'WS_ERR_INVALID_OPCODE'],
  ['Invalid WebSocket frame: new data frame inside a fragmented message', 'WS_ERR_INVALID_OPCODE'],
  ['Invalid WebSocket frame: MASK must be set', 'WS_ERR_EXPECTED_MASK'],
  ['Invalid WebSocket frame: MASK must be clear', 'WS_ERR_UNEXPECTED_MASK'],
  ['Invalid WebSocket frame: payload length not in its minimal form', 'WS_ERR_INVALID_PAYLOAD_LENGTH'],
  ['Invalid WebSocket frame: 64-bit payload length with the most significant bit set', 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'],
  ['Max payload size exceeded', 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'],
  ['Invalid WebSocket frame: invalid UTF-8 sequence', 'WS_ERR_INVALID_UTF8'],
  ['Invalid WebSocket frame: RSV1 must be clear on a continuation frame', 'WS_ERR_UNEXPECTED_RSV_1'],
];

export function errorFromWasm(closeCode: number, reason: number): ProtocolError {
  const [message, code] = REASONS[reason] ?? ['Invalid WebSocket frame', 'WS_ERR_INVALID_OPCODE'];
  return new ProtocolError(message, closeCode, code);
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
