// One worker of runtimes/app/threads.ts: an App on the port it is given (0:
// any), with a ThreadBroker, answering each WebSocket with {"thread": n} and
// publishing 'pub:X' to "room" (every worker's subscribers). Runs from src/.
/* eslint-disable @typescript-eslint/no-explicit-any -- two runtimes' globals */
const g = globalThis as any;
const mod: any = g.Deno ? await import('../../src/entries/app-deno.ts') : await import('../../src/entries/app-bun.ts');
g.onmessage = (e: MessageEvent) => {
  const { thread, port } = e.data as { thread: number; port: number };
  const app = mod.App().useBroker(new mod.ThreadBroker({ name: 'runtimes-threads' }));
  app.ws('/*', {
    open: (ws: any) => { ws.subscribe('room'); ws.send(JSON.stringify({ thread })); },
    message: (ws: any, message: ArrayBuffer, isBinary: boolean) => {
      const text = new TextDecoder().decode(message);
      if (text.startsWith('pub:')) app.publish('room', text.slice(4), isBinary);
    },
  });
  app.listen('127.0.0.1', port, (token: unknown) => {
    g.postMessage({ port: token ? mod.us_socket_local_port(token) : -1 });
  });
};
// Told only now: a message sent before onmessage was set could be lost (Bun).
g.postMessage({ ready: true });
