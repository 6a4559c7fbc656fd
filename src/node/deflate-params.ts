// permessage-deflate negotiation lives with the codec (no Node imports, every runtime uses it).
export * from '../codec/deflate-params.js';
