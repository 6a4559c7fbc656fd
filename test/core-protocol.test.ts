// The connection core (src/core/protocol.ts) driven with bytes only, as
// python-websockets tests its Protocol: frames in, what the core asks of its
// host out. Both roles; the closing handshake from either side; the one fail
// path with its codes; automatic pongs and their backlog limit; receive order
// around an inflation that finishes later; the budget's closes. Every door
// (src/node/ws, src/web) runs on this object; their socket tests are elsewhere.
import { describe, expect, it } from 'vitest';
import { FrameEncoder, OPCODE, encodeClosePayload } from '../src/codec/index.ts';
import {
  CLOSED, CLOSING, OPEN, PONG_BACKLOG_MAX, Protocol, type Inflater, type ProtocolHost, type ProtocolOptions,
} from '../src/core/protocol.ts';
import { MemoryBudget } from '../src/core/budget.ts';

type Call = [string, ...unknown[]];

class Recorder implements ProtocolHost {
  calls: Call[] = [];
  backlogBytes = 0;
  settle: Promise<void> | undefined;
  message(data: Uint8Array, isBinary: boolean): void { this.calls.push(['message', new TextDecoder().decode(data), isBinary]); }
  ping(data: Uint8Array): void { this.calls.push(['ping', [...data]]); }
  pong(data: Uint8Array): void { this.calls.push(['pong', [...data]]); }
  error(err: Error & { closeCode?: number; code?: string }): void { this.calls.push(['error', err.closeCode, err.code]); }
  sendControl(opcode: number, payload: Uint8Array): void { this.calls.push(['sendControl', opcode, [...payload]]); }
  sendClose(payload: Uint8Array): void { this.calls.push(['sendClose', [...payload]]); }
  backlog(): number { return this.backlogBytes; }
  pauseReading(): void { this.calls.push(['pause']); }
  resumeReading(): void { this.calls.push(['resume']); }
  endTransport(): void { this.calls.push(['end']); }
  failTransport(): void { this.calls.push(['fail']); }
  abortTransport(): void { this.calls.push(['abort']); }
  armCloseTimer(ms: number): void { this.calls.push(['timer', ms]); }
  settled(): Promise<void> | undefined { return this.settle; }
  names(): string[] { return this.calls.map((c) => c[0]); }
}

const client = new FrameEncoder({ mask: true });
const server = new FrameEncoder({ mask: false });
const text = (s: string, enc = client): Uint8Array => enc.frame(OPCODE.text, new TextEncoder().encode(s));
const close = (code?: number, reason?: string, enc = client): Uint8Array => enc.frame(OPCODE.close, encodeClosePayload(code, reason));

function open(options: Partial<ProtocolOptions> = {}): { p: Protocol; host: Recorder } {
  const p = new Protocol();
  const host = new Recorder();
  p.open(host, { isServer: true, closeTimeout: 1000, ...options });
  return { p, host };
}

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of parts) { out.set(b, o); o += b.length; }
  return out;
};

describe('the connection core, bytes in, host calls out', () => {
  it('delivers messages and answers a ping before reporting it, whatever the read boundaries', () => {
    const bytes = concat(text('héllo'), client.frame(OPCODE.ping, new Uint8Array([1, 2])), text('again'));
    for (let split = 0; split <= bytes.length; split++) {
      const { p, host } = open();
      p.receive(bytes.subarray(0, split));
      p.receive(bytes.subarray(split));
      expect(host.calls).toEqual([
        ['message', 'héllo', false], ['sendControl', OPCODE.pong, [1, 2]], ['ping', [1, 2]], ['message', 'again', false],
      ]);
      expect(p.heard).toBe(true);
    }
  });

  it('the peer closes: its code and reason are echoed, the transport ends once our frame is written', () => {
    const { p, host } = open();
    p.receive(close(4000, 'bye'));
    expect(host.names()).toEqual(['sendClose', 'timer']);
    expect(p.state).toBe(CLOSING);
    p.closeWritten();
    expect(host.names()).toEqual(['sendClose', 'timer', 'end']);
    expect([p.code, new TextDecoder().decode(p.reason), p.wasClean]).toEqual([4000, 'bye', true]);
    p.transportClosed();
    expect(p.state).toBe(CLOSED);
  });

  it('we close: the transport ends when the peer\'s close arrives after ours is written, once', () => {
    const { p, host } = open({ isServer: false });
    p.close(1000, 'done');
    expect(host.calls[0]).toEqual(['sendClose', [...encodeClosePayload(1000, 'done')]]);
    p.closeWritten();
    expect(host.names()).not.toContain('end');
    p.receive(close(1000, '', server));
    p.close(); // a second close() in CLOSING finishes nothing twice
    expect(host.names().filter((n) => n === 'end')).toHaveLength(1);
    expect(p.wasClean).toBe(true);
  });

  it('an empty close frame is answered empty; code 1005 is reported', () => {
    const { p, host } = open();
    p.receive(client.frame(OPCODE.close, new Uint8Array(0)));
    expect(host.calls[0]).toEqual(['sendClose', []]);
    expect(p.code).toBe(1005);
  });

  it.each([
    ['an unmasked frame to a server', server.frame(OPCODE.text, new Uint8Array([0x61])), 1002],
    ['invalid UTF-8 in text', client.frame(OPCODE.text, new Uint8Array([0xc3, 0x28])), 1007],
    ['a message above maxPayload', client.frame(OPCODE.binary, new Uint8Array(2000)), 1009],
    ['a reserved opcode', client.frame(3, new Uint8Array(0)), 1002],
  ])('%s fails the connection: close frame with its code, error once, transport failed after the frame', (_, bytes, code) => {
    const { p, host } = open({ maxPayload: 1024 });
    p.receive(concat(text('before'), bytes, text('after')));
    expect(host.calls[0]).toEqual(['message', 'before', false]);
    expect(host.calls[1]).toEqual(['sendClose', [...encodeClosePayload(code)]]);
    expect(host.names().filter((n) => n === 'error')).toHaveLength(1);
    expect(host.calls.filter((c) => c[0] === 'message')).toHaveLength(1); // nothing after the bad frame
    p.closeWritten();
    expect(host.names().at(-1)).toBe('fail');
    expect(p.code).toBe(1006); // no close frame came from the peer
    expect(p.wasClean).toBe(false);
  });

  it('pings go unanswered while more than PONG_BACKLOG_MAX bytes wait for the peer, and are still reported', () => {
    const { p, host } = open();
    host.backlogBytes = PONG_BACKLOG_MAX + 1;
    p.receive(client.frame(OPCODE.ping, new Uint8Array([9])));
    expect(host.calls).toEqual([['ping', [9]]]);
    host.backlogBytes = PONG_BACKLOG_MAX;
    p.receive(client.frame(OPCODE.ping, new Uint8Array([8])));
    expect(host.calls.slice(1)).toEqual([['sendControl', OPCODE.pong, [8]], ['ping', [8]]]);
  });

  it('autoPong: false reports pings without answering', () => {
    const { p, host } = open({ autoPong: false });
    p.receive(client.frame(OPCODE.ping, new Uint8Array(0)));
    expect(host.names()).toEqual(['ping']);
  });

  it('what arrives behind a message that inflates later waits for it, reading paused meanwhile', () => {
    const pending: Array<() => void> = [];
    const inflater: Inflater = {
      inflatingBytes: 0,
      inflateSync: () => null,
      inflate: (data, done) => { pending.push(() => done(null, new TextEncoder().encode(`inflated ${data.length}`))); },
    };
    const { p, host } = open({ inflater });
    const compressed = client.frame(OPCODE.text, new Uint8Array([1, 2, 3]), { rsv1: true });
    p.receive(concat(compressed, text('plain'), client.frame(OPCODE.pong, new Uint8Array(0)), close(1000)));
    expect(host.names()).toEqual(['pause']);
    expect(p.incomingBytes()).toBeGreaterThan(0);
    pending.shift()!();
    // The deflate tail (00 00 ff ff) is appended by the decoder: 3 + 4 bytes in.
    expect(host.calls.slice(1)).toEqual([
      ['message', 'inflated 7', false], ['message', 'plain', false], ['pong', []],
      ['sendClose', [...encodeClosePayload(1000)]], ['timer', 1000],
      ['resume'], // closing, reading goes on: the peer's FIN is still to come
    ]);
  });

  it('corrupt compressed data fails with 1007 and nothing behind it is delivered', () => {
    const inflater: Inflater = {
      inflatingBytes: 0,
      inflateSync: () => { throw Object.assign(new Error('bad'), { closeCode: 1007 }); },
      inflate: () => {},
    };
    const { p, host } = open({ inflater });
    p.receive(concat(client.frame(OPCODE.binary, new Uint8Array([1]), { rsv1: true }), text('after')));
    expect(host.calls[0]).toEqual(['sendClose', [...encodeClosePayload(1007)]]);
    expect(host.names()).not.toContain('message');
  });

  it('a close reply waits until the host says the messages before it were dealt with', async () => {
    const { p, host } = open();
    let release!: () => void;
    host.settle = new Promise((r) => { release = r; });
    p.receive(concat(text('read me first'), close(1000)));
    expect(host.names()).toEqual(['message', 'timer']); // bounded by the close timeout meanwhile
    release();
    await host.settle;
    await Promise.resolve();
    expect(host.names()).toEqual(['message', 'timer', 'sendClose', 'timer']);
  });

  it('the budget closes an asker that holds too much with 1009 and the one not reading with 1008', () => {
    const budget = new MemoryBudget(4096);
    const member = { _budgetHeld: 0, _incomingBytes: () => a.p.incomingBytes(), _backlog: () => 0, _budgetClose: (c: number, r: string) => a.p.budgetClose(c, r) };
    const a = open({ budget, budgetMember: member, maxPayload: 1 << 20 });
    const frame = client.frame(OPCODE.binary, new Uint8Array(64 * 1024));
    a.p.receive(frame.subarray(0, 8 * 1024)); // a message still arriving: 8 KiB held, over 4 KiB
    expect(a.host.calls[0]).toEqual(['sendClose', [...encodeClosePayload(1009)]]);
    expect(a.host.calls.find((c) => c[0] === 'error')).toEqual(['error', 1009, 'WS_ERR_BUDGET_EXCEEDED']);
    expect(budget.incoming).toBe(0);
    expect(budget.closes).toBe(1);

    const b = open();
    b.p.budgetClose(1008, 'Peer is not reading');
    expect(b.host.names()).toEqual(['error', 'abort']); // no close frame behind what the peer does not read
    expect(b.p.state).toBe(CLOSING);
    budget.sweep(); // stops its timer
  });

  it('terminate() aborts at once; nothing read afterwards is delivered', () => {
    const { p, host } = open();
    p.terminate();
    p.transportClosed();
    p.receive(text('late'));
    expect(host.names()).toEqual(['abort']);
    expect(p.state).toBe(CLOSED);
    expect(p.state).not.toBe(OPEN);
  });
});
