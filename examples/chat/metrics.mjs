// GET /metrics for Prometheus, through prom-client (a devDependency of this
// repository: the example's choice, not a dependency of wasmsocket).
// Counters are fed by wasmsocket's diagnostics_channel events (the names are in
// the README, "Metrics"), filtered to this chat's servers; gauges read
// wss.stats when Prometheus scrapes. Each chat has its own Registry, so several
// chats in one process (the tests) do not collide.
import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Starts counting for `servers` ({ chat: wss, hello: wss }). Resolves to
 * { contentType, text(), stop() }, or null when prom-client is not installed.
 */
export async function chatMetrics(servers) {
  let client;
  try {
    client = await import('prom-client');
  } catch {
    return null;
  }
  const register = new client.Registry();
  client.collectDefaultMetrics({ register, prefix: 'chat_' });
  const endpointOf = new Map(Object.entries(servers).map(([name, wss]) => [wss, name]));
  const labelNames = ['endpoint'];
  const opened = new client.Counter({ name: 'wasmsocket_connections_opened_total', help: 'WebSocket connections opened', labelNames, registers: [register] });
  const closed = new client.Counter({ name: 'wasmsocket_connections_closed_total', help: 'WebSocket connections closed, by close code', labelNames: ['endpoint', 'code'], registers: [register] });
  const refused = new client.Counter({ name: 'wasmsocket_handshakes_refused_total', help: 'Opening handshakes refused, by reason', labelNames: ['endpoint', 'reason'], registers: [register] });
  const limits = new client.Counter({ name: 'wasmsocket_limit_hits_total', help: 'Handshakes refused by a connection limit or the handshake rate', labelNames: ['endpoint', 'limit'], registers: [register] });
  const timeouts = new client.Counter({ name: 'wasmsocket_idle_timeouts_total', help: 'Peers terminated by the idle timeout', labelNames: ['endpoint', 'why'], registers: [register] });
  const stat = (name, help, read) => new client.Gauge({
    name, help, labelNames, registers: [register],
    collect() { for (const [wss, endpoint] of endpointOf) this.set({ endpoint }, read(wss.stats)); },
  });
  stat('wasmsocket_connections', 'WebSocket connections open or in handshake', (s) => s.connections);
  stat('wasmsocket_buffered_bytes', 'Bytes held for peers (the memory budget\'s total)', (s) => s.bufferedBytes);
  stat('wasmsocket_budget_closes', 'Connections closed by the memory budget since start', (s) => s.budgetCloses);

  // diagnostics_channel: one subscriber per event, each ignoring other servers' events.
  const handlers = {
    'wasmsocket:server:open': (m, endpoint) => opened.inc({ endpoint }),
    'wasmsocket:server:close': (m, endpoint) => closed.inc({ endpoint, code: String(m.code) }),
    'wasmsocket:server:handshakeRefused': (m, endpoint) => refused.inc({ endpoint, reason: m.reason }),
    'wasmsocket:server:limitHit': (m, endpoint) => limits.inc({ endpoint, limit: m.limit }),
    'wasmsocket:server:idleTimeout': (m, endpoint) => timeouts.inc({ endpoint, why: m.why }),
  };
  const subscribed = Object.entries(handlers).map(([name, handle]) => {
    const fn = (message) => {
      const endpoint = endpointOf.get(message.server);
      if (endpoint !== undefined) handle(message, endpoint);
    };
    diagnosticsChannel.subscribe(name, fn);
    return () => diagnosticsChannel.unsubscribe(name, fn);
  });

  return {
    contentType: register.contentType,
    text: () => register.metrics(),
    stop() { for (const unsubscribe of subscribed) unsubscribe(); },
  };
}
