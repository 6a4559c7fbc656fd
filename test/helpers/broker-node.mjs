// One server process for the Redis broker tests (run with `node`, driven over IPC).
//
//   node test/helpers/broker-node.mjs '<json RedisBrokerOptions, plus `server`: WebSocketServer options>'
//
// Its WebSocket clients send "sub:<topic>" / "unsub:<topic>" and get "ok:..."
// back once done. The parent sends {id, op, ...} and gets {id, ...} back:
//   publish   {topic, text} or {topic, base64}: wss.publish (a topic of null: wss.broadcast)
//   burst     {topic, prefix, count}: `count` publishes of `${prefix}${i}` in one tick
//   metrics   the broker's metrics and this process's heap in use after a full GC
import { WebSocketServer } from '../../dist/index.js';
import { redisBroker } from '../../dist/redis.js';

const { server: serverOptions = {}, ...options } = JSON.parse(process.argv[2] ?? '{}');
const errors = [];
const broker = redisBroker({ ...options, onError: (err) => { if (errors.length < 20) errors.push(String(err?.message ?? err)); } });
// Backpressure room for the 1 MiB message (the default, 1 MiB, would close its recipients).
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 2 * 1024 * 1024, maxBackpressure: 4 * 1024 * 1024, ...serverOptions });
wss.useBroker(broker);
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data) => {
    const text = String(data);
    const [verb, topic] = [text.slice(0, text.indexOf(':')), text.slice(text.indexOf(':') + 1)];
    if (verb === 'sub') ws.subscribe(topic);
    else if (verb === 'unsub') ws.unsubscribe(topic);
    ws.send(`ok:${text}`);
  });
});

function publish(topic, data) {
  return topic === null ? wss.broadcast(data) : wss.publish(topic, data);
}

process.on('message', (msg) => {
  const reply = (body) => process.send({ id: msg.id, ...body });
  switch (msg.op) {
    case 'publish': {
      const data = msg.base64 !== undefined ? Buffer.from(msg.base64, 'base64') : msg.text;
      return reply({ local: publish(msg.topic, data) });
    }
    case 'burst': {
      let local = 0;
      for (let i = 0; i < msg.count; i++) local += publish(msg.topic, `${msg.prefix}${i}`);
      return reply({ local });
    }
    case 'metrics':
      globalThis.gc?.(); // started with --expose-gc: heapUsed is what is still referenced
      return reply({ metrics: broker.metrics(), heapUsed: process.memoryUsage().heapUsed, errors });
    case 'exit':
      wss.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
  }
});
process.on('disconnect', () => process.exit(0));

wss.on('listening', () => process.send({ op: 'listening', port: wss.address().port }));
