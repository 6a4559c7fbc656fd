// Parent side of test/helpers/broker-node.mjs: server processes on one Redis,
// and ws clients connected to them.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WS from 'ws';
import { withTimeout } from './wait.ts';

const SCRIPT = fileURLToPath(new URL('./broker-node.mjs', import.meta.url));

export interface Metrics {
  published: number; received: number; delivered: number; dropped: number; ignored: number; ownEchoes: number;
  reconnects: number; gaps: number; errors: number; pendingBytes: number; subscriptions: number; connected: boolean;
}

export class BrokerNode {
  private nextId = 1;
  private readonly waiting = new Map<number, (body: any) => void>();
  private constructor(readonly proc: ChildProcess, readonly port: number) {
    proc.on('message', (m: any) => { this.waiting.get(m.id)?.(m); this.waiting.delete(m.id); });
  }

  static async start(options: Record<string, unknown>): Promise<BrokerNode> {
    const proc = fork(SCRIPT, [JSON.stringify(options)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await withTimeout(new Promise<number>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code) => reject(new Error(`broker node exited with ${code}`)));
      proc.on('message', (m: any) => { if (m.op === 'listening') resolve(m.port); });
    }), 15_000, 'broker node listening');
    return new BrokerNode(proc, port);
  }

  get url(): string { return `ws://127.0.0.1:${this.port}`; }
  get alive(): boolean { return this.proc.exitCode === null && this.proc.signalCode === null; }

  call(op: string, body: Record<string, unknown> = {}): Promise<any> {
    const id = this.nextId++;
    const answer = new Promise((resolve) => this.waiting.set(id, resolve));
    this.proc.send({ id, op, ...body });
    return withTimeout(answer, 15_000, `broker node reply to ${op}`);
  }

  publish(topic: string | null, data: string | Buffer): Promise<{ local: number }> {
    return this.call('publish', typeof data === 'string' ? { topic, text: data } : { topic, base64: data.toString('base64') });
  }

  async metrics(): Promise<Metrics> { return (await this.call('metrics')).metrics; }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.send({ op: 'exit' });
    await withTimeout(exited, 5000, 'broker node exit').catch(() => this.proc.kill('SIGKILL'));
  }
}

/** A ws client of a broker node that records every message and can (un)subscribe with acknowledgement. */
export class Client {
  readonly messages: Buffer[] = [];
  readonly binary: boolean[] = [];
  private acks: string[] = [];
  private constructor(readonly ws: WS) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? '' : data.toString();
      if (!isBinary && text.startsWith('ok:')) { this.acks.push(text.slice(3)); return; }
      this.messages.push(data);
      this.binary.push(isBinary);
    });
  }

  static async connect(url: string, options: WS.ClientOptions = {}): Promise<Client> {
    const ws = new WS(url, { maxPayload: 4 * 1024 * 1024, ...options });
    await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 5000, `connect ${url}`);
    return new Client(ws);
  }

  texts(): string[] { return this.messages.map((m) => m.toString()); }

  private async command(text: string): Promise<void> {
    this.ws.send(text);
    const deadline = Date.now() + 5000;
    while (!this.acks.includes(text)) {
      if (Date.now() > deadline) throw new Error(`no ack for ${text}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    this.acks.splice(this.acks.indexOf(text), 1);
  }

  subscribe(topic: string): Promise<void> { return this.command(`sub:${topic}`); }
  unsubscribe(topic: string): Promise<void> { return this.command(`unsub:${topic}`); }
  close(): void { this.ws.terminate(); }
}
