// `npm start`: the chat on http://127.0.0.1:8080 (PORT and HOST from the
// environment). Ctrl+C closes the clients with 1001 and exits.
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

let chat;
try {
  chat = await createChatServer({ port, host });
} catch (err) {
  console.error(`Cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
}
console.log(`Chat running at ${chat.url}`);
console.log(`Hello demo at ${chat.url}demo/hello`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) process.exit(1); // a second Ctrl+C does not wait
    stopping = true;
    chat.close().then(() => process.exit(0));
  });
}
