// `npm start`: the chat on http://127.0.0.1:8080 (PORT and HOST from the
// environment). Ctrl+C closes the clients with 1001 and exits.
// HTTPS=1: https:// instead, HTTP/2 for the page and the sockets (HTTP/1.1 too),
// with a self-signed certificate made at start (needs openssl).
const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number (0-65535), not ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}

let createChatServer;
try {
  ({ createChatServer } = await import('./app.mjs'));
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist')) {
    console.error('The package is not built (dist/index.js is missing): run `npm install` or `npm run build` first.');
    process.exit(1);
  }
  throw err;
}

let tls;
if (process.env.HTTPS === '1') {
  const { selfSignedCert } = await import('./cert.mjs');
  try {
    tls = selfSignedCert();
  } catch (err) {
    console.error(`HTTPS=1 needs openssl to make a self-signed certificate: ${err.message}`);
    process.exit(1);
  }
}

let chat;
try {
  chat = await createChatServer({ port, host, tls });
} catch (err) {
  console.error(`Cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
}
console.log(`Chat running at ${chat.url}`);
console.log(`Hello demo at ${chat.url}demo/hello`);
if (tls) {
  console.log('HTTP/2 with a self-signed certificate: accept the browser\'s warning, or start Chromium with');
  console.log(`  chromium --ignore-certificate-errors-spki-list=${tls.spki} ${chat.url}`);
  console.log('In DevTools > Network the page shows Protocol h2 and the socket is a stream of that connection.');
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) process.exit(1); // a second Ctrl+C does not wait
    stopping = true;
    chat.close().then(() => process.exit(0));
  });
}
