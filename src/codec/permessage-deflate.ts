// permessage-deflate (RFC 7692) for one connection, runtime-agnostic: the
// negotiation of deflate-params.ts plus the streams of deflate.ts, all
// synchronous. What the Deno / Bun / workerd / browser endpoints use; Node's
// WebSocket uses src/node/deflate/permessage-deflate.ts (native zlib, ws's API).
//
//   const pmd = new MessageDeflate({ isServer: true, maxPayload });
//   const response = pmd.acceptOffers(request.headers.get('sec-websocket-extensions'));
//   // response (null: declined) goes into the 101's Sec-WebSocket-Extensions
//   decoder = new FrameDecoder(handler, { isServer: true, perMessageDeflate: pmd.active });
//   onMessage(data, isBinary, compressed) -> compressed ? pmd.decompress(data) : data
//   send: pmd.shouldCompress(n) ? frame(opcode, pmd.compress(bytes), { rsv1: true }) : frame(opcode, bytes)
import { formatExtensions, parseExtensions, type ExtensionParams } from './extension.js';
import {
  acceptAsClient, acceptAsServer, checkWindowOption, offerParams,
  type DeflateNegotiationOptions, type PerMessageDeflateParams,
} from './deflate-params.js';
import { RawDeflater, RawInflater, type DeflateTuning } from './deflate.js';

export type { PerMessageDeflateParams, DeflateNegotiationOptions } from './deflate-params.js';

const NAME = 'permessage-deflate';

export interface MessageDeflateOptions extends DeflateNegotiationOptions, DeflateTuning {
  /** true: we are the server. */
  isServer: boolean;
  /** Largest inflated message in bytes, checked while inflating; 0: no limit. */
  maxPayload?: number;
  /** Messages smaller than this go uncompressed (default 1024, as ws). */
  threshold?: number;
  /**
   * One compressor per window size for the whole process (uWebSockets.js's
   * SHARED_COMPRESSOR): our side never uses context takeover, so a connection
   * holds no deflate state. A server also answers server_no_context_takeover.
   */
  sharedCompressor?: boolean;
}

const shared = new Map<string, RawDeflater>();

export class MessageDeflate {
  /** Negotiated parameters; null until negotiation succeeded. */
  params: PerMessageDeflateParams | null = null;
  private readonly opts: MessageDeflateOptions;
  private ourBits = 15;
  private peerBits = 15;
  private ourNoTakeover = false;
  private peerNoTakeover = false;
  private deflater: RawDeflater | null = null;
  private inflater: RawInflater | null = null;

  constructor(options: MessageDeflateOptions) {
    checkWindowOption('serverMaxWindowBits', options.serverMaxWindowBits);
    checkWindowOption('clientMaxWindowBits', options.clientMaxWindowBits);
    this.opts = options;
  }

  /** permessage-deflate is in use on this connection. */
  get active(): boolean { return this.params !== null; }

  /** Client: the Sec-WebSocket-Extensions value to offer. */
  offer(): string {
    return formatExtensions({ [NAME]: [offerParams(this.opts)] });
  }

  /**
   * Server: picks the first acceptable permessage-deflate offer in a
   * Sec-WebSocket-Extensions value and returns the value to answer with, or
   * null to go on without compression (no offer, none acceptable, or a header
   * that does not parse: RFC 7692 §5 lets a server decline).
   */
  acceptOffers(header: string | null | undefined): string | null {
    if (!this.opts.isServer) throw new Error('acceptOffers() is for servers');
    if (!header) return null;
    let offers: ExtensionParams[] | undefined;
    try {
      offers = parseExtensions(header)[NAME];
    } catch {
      return null;
    }
    if (!offers || offers.length === 0) return null;
    const o = this.opts;
    const negotiation = o.sharedCompressor && o.serverNoContextTakeover === undefined ? { ...o, serverNoContextTakeover: true } : o;
    let params: PerMessageDeflateParams;
    try {
      params = acceptAsServer(offers, negotiation);
    } catch {
      return null;
    }
    this.configure(params);
    return formatExtensions({ [NAME]: [params] });
  }

  /**
   * Client: reads the server's Sec-WebSocket-Extensions value. Returns false
   * when the server did not enable permessage-deflate; throws when the answer
   * is invalid (the connection must then be failed, RFC 6455 §9.1).
   */
  acceptResponse(header: string | null | undefined): boolean {
    if (this.opts.isServer) throw new Error('acceptResponse() is for clients');
    if (!header) return false;
    const exts = parseExtensions(header);
    const names = Object.keys(exts);
    if (names.length === 0) return false;
    if (names.length !== 1 || names[0] !== NAME) throw new Error('Server indicated an extension that was not requested');
    this.configure(acceptAsClient(exts[NAME] ?? [], this.opts));
    return true;
  }

  private configure(params: PerMessageDeflateParams): void {
    const server = this.opts.isServer;
    const ours = server ? params.server_max_window_bits : params.client_max_window_bits;
    const peers = server ? params.client_max_window_bits : params.server_max_window_bits;
    this.ourBits = typeof ours === 'number' ? ours : 15;
    this.peerBits = typeof peers === 'number' ? peers : 15;
    this.ourNoTakeover = (server ? params.server_no_context_takeover : params.client_no_context_takeover) === true
      || this.opts.sharedCompressor === true;
    this.peerNoTakeover = (server ? params.client_no_context_takeover : params.server_no_context_takeover) === true;
    this.params = params;
  }

  /** The window our compressor uses (the peer's limit on it): a shared frame must use no larger. */
  get deflateWindowBits(): number { return this.ourBits; }

  /**
   * The peer's inflater was given a frame our compressor did not make (a
   * broadcast compressed once for many): our next message must refer back to
   * nothing, so the compressor restarts.
   */
  restartCompressor(): void {
    this.deflater?.reset();
  }

  /** Whether a message of `size` bytes should be compressed (at least `threshold` bytes). */
  shouldCompress(size: number): boolean {
    return this.params !== null && size >= (this.opts.threshold ?? 1024);
  }

  /** Compresses a whole message (or, with fin false, a fragment of one): the payload of a frame with RSV1 set on its first frame. */
  compress(data: Uint8Array, fin = true): Uint8Array {
    if (this.params === null) throw new Error('permessage-deflate was not negotiated');
    if (this.opts.sharedCompressor) {
      const key = `${this.ourBits}/${this.opts.level ?? 6}/${this.opts.memLevel ?? 8}`;
      let d = shared.get(key);
      if (d === undefined) shared.set(key, (d = new RawDeflater(this.ourBits, this.opts)));
      // A fragment leaves history behind; the next message starts from nothing.
      try {
        return d.compress(data, fin);
      } finally {
        if (fin) d.reset();
      }
    }
    const d = this.deflater ??= new RawDeflater(this.ourBits, this.opts);
    const out = d.compress(data, fin);
    if (fin && this.ourNoTakeover) d.reset();
    return out;
  }

  /**
   * Inflates a whole message whose 00 00 ff ff tail is already appended (what
   * FrameDecoder hands over for a compressed message). Throws a ProtocolError:
   * 1009 past maxPayload (checked while inflating), 1007 on corrupt data; the
   * connection must then be failed with that code.
   */
  decompress(dataWithTail: Uint8Array): Uint8Array {
    if (this.params === null) throw new Error('permessage-deflate was not negotiated');
    const inf = this.inflater ??= new RawInflater(this.peerBits);
    try {
      const out = inf.inflate(dataWithTail, this.opts.maxPayload ?? 0);
      // Without the peer's context takeover, or after a final block, the next message starts a new stream.
      if (this.peerNoTakeover || inf.ended) this.inflater = null;
      return out;
    } catch (e) {
      this.inflater = null;
      throw e;
    }
  }

  /** Drops both streams (the connection is gone). */
  dispose(): void {
    this.deflater = null;
    this.inflater = null;
  }
}
