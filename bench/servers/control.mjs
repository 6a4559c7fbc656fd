// The control channel every bench server shares with bench/run.mjs (IPC):
// 'stats' answers CPU, time and memory (after two GCs when asked), 'exit' ends
// the process; a lost parent or a run past BENCH_SERVER_MAX_MS ends it too.
export function serveControl(clientCount) {
  const stats = (msg) => {
    if (msg.gc && typeof globalThis.gc === 'function') {
      globalThis.gc();
      globalThis.gc();
    }
    const m = process.memoryUsage();
    return {
      id: msg.id, cpu: process.cpuUsage(), t: performance.now(), rss: m.rss, heapUsed: m.heapUsed,
      heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers,
      maxRSS: process.resourceUsage().maxRSS * 1024, clients: clientCount(), gc: typeof globalThis.gc === 'function',
    };
  };
  if (typeof process.send === 'function') {
    process.on('message', (msg) => {
      if (!msg || typeof msg !== 'object') return;
      if (msg.cmd === 'stats') process.send(stats(msg));
      else if (msg.cmd === 'exit') process.exit(0);
    });
    process.on('disconnect', () => process.exit(0));
  }
  setTimeout(() => process.exit(3), Number(process.env.BENCH_SERVER_MAX_MS) || 15 * 60_000).unref();
}
