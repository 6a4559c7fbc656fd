// The Sec-WebSocket-Extensions parser lives with the codec (no Node imports, every runtime uses it).
export * from '../codec/extension.js';
