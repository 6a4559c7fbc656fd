// wasmsocket/app in two Web Workers on one port, in Deno and Bun, as uWS.js's
// WorkerThreads example runs in Node (test/app-cores.test.ts runs it):
//   deno run --unstable-net --allow-net=127.0.0.1 --allow-read --config runtimes/deno/deno.json runtimes/app/threads.ts
//   bun runtimes/app/threads.ts
// Each worker (runtimes/app/thread-worker.ts) runs an App from src/ with a
// ThreadBroker; the first listens on port 0 and the second on the port it got
// (SO_REUSEPORT: Bun.listen's reusePort; Deno.listen's, which is unstable and
// so needs --unstable-net). Prints `THREADS {"port", "ports", "threads"}` once
// both listen; exits when its stdin closes.
/* eslint-disable @typescript-eslint/no-explicit-any -- two runtimes' globals */
const g = globalThis as any;
const url = new URL('./thread-worker.ts', import.meta.url).href;
const ports: number[] = [];
const threads: number[] = [];
for (let i = 1; i <= 2; i++) {
  const w = new Worker(url, { type: 'module' });
  const got: { port: number } = await new Promise((resolve, reject) => {
    // The worker says ready once its module loaded, then gets its thread number and port.
    w.onmessage = (e: MessageEvent) => {
      if (e.data?.ready) w.postMessage({ thread: i, port: ports[0] ?? 0 });
      else resolve(e.data);
    };
    w.onerror = (e: ErrorEvent) => reject(new Error(e.message));
  });
  ports.push(got.port);
  threads.push(i);
}
console.log(`THREADS ${JSON.stringify({ port: ports[0], ports, threads })}`);
// Exit when stdin closes (the test's end).
if (g.Deno) { for await (const _ of g.Deno.stdin.readable) { /* drain */ } g.Deno.exit(0); }
else { for await (const _ of g.Bun.stdin.stream()) { /* drain */ } g.process.exit(0); }
