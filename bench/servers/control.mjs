// The control channel every bench server shares with bench/run.mjs (IPC):
// 'stats' answers CPU, time and memory (after two GCs when asked), 'exit' ends
// the process; a lost parent or a run past BENCH_SERVER_MAX_MS ends it too.
/** One JSON line on stdout (the ready line run.mjs waits for). */
export function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** The echo servers' command line: --mode echo|broadcast (or BENCH_MODE) and --deflate (or BENCH_DEFLATE=1). */
export function serverArgs() {
  const args = process.argv.slice(2);
  const i = args.indexOf('--mode');
  const mode = (i >= 0 ? args[i + 1] : undefined) ?? process.env.BENCH_MODE ?? 'echo';
  return { args, mode, deflate: args.includes('--deflate') || process.env.BENCH_DEFLATE === '1' };
}

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
