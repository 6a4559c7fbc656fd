// The runtime-agnostic codec: no Node imports, only WebAssembly, Uint8Array,
// TextEncoder/TextDecoder, atob and crypto.getRandomValues.
export { FrameDecoder, type DecoderHandler, type DecoderOptions } from './decoder.js';
export { FrameEncoder, OPCODE, writeHeader, headerLength, type EncoderOptions, type FrameOptions, type FrameSpec } from './encoder.js';
export { encodeClosePayload, decodeClosePayload, isValidCloseCode, type ClosePayload } from './close.js';
export { isValidUtf8, Utf8Validator } from './utf8.js';
export { maskBytes, randomMaskKey } from './mask.js';
export { ProtocolError } from './errors.js';
export { getCodec, initCodec, forceScalar, simdSupported, type WasmCodec } from './wasm.js';
export { MessageDeflate, type MessageDeflateOptions, type PerMessageDeflateParams, type DeflateNegotiationOptions } from './permessage-deflate.js';
export { RawDeflater, RawInflater, type DeflateTuning } from './deflate.js';
export { parseExtensions, formatExtensions, type ExtensionParams, type ExtensionOffers } from './extension.js';
