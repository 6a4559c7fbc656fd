// wasmsocket/web for Cloudflare workerd (package.json condition "workerd"):
// the codec from the wasm modules (./workerd.ts; workerd refuses compiling wasm
// from bytes), and connect() from cloudflare:sockets as the TCP a client
// WebSocketStream opens. The API (and its .d.ts) is dist/web.d.ts's.
import { connect } from 'cloudflare:sockets';
import './workerd.js';
import { endpointOf, setDefaultDialer } from '../web/dial.js';

setDefaultDialer((url) => {
  const { hostname, port, secure } = endpointOf(url);
  const socket = connect({ hostname, port }, { secureTransport: secure ? 'on' : 'off' });
  return { readable: socket.readable, writable: socket.writable };
});

export * from '../web/index.js';
