// The browser's WebSocket event API (Event, MessageEvent, CloseEvent, ErrorEvent,
// addEventListener / onX) on top of the Node EventEmitter, so browser code runs
// unchanged in Node. The connection class extends WebSocketEventTarget.
import { EventEmitter } from 'node:events';

export class Event {
  readonly type: string;
  /** The WebSocket that fired the event (typed loosely, as @types/ws users read it as one). */
  target: any;
  constructor(type: string, target: unknown) {
    this.type = type;
    this.target = target;
  }
  get currentTarget(): unknown { return this.target; }
  get srcElement(): unknown { return this.target; }
}

/** What a message event carries: text as a string, binary per binaryType. */
export type MessageData = string | Buffer | ArrayBuffer | Buffer[] | Blob;

export class MessageEvent extends Event {
  readonly data: MessageData;
  constructor(type: string, init: { data?: unknown } = {}, target?: unknown) {
    super(type, target ?? null);
    this.data = (init.data ?? null) as MessageData;
  }
}

export class CloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}, target?: unknown) {
    super(type, target ?? null);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

export class ErrorEvent extends Event {
  readonly error: unknown;
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}, target?: unknown) {
    super(type, target ?? null);
    this.error = init.error ?? null;
    this.message = init.message ?? '';
  }
}

export type EventListenerLike = ((event: Event) => void) | { handleEvent(event: Event): void };
/** A handler for one event type (onmessage gets MessageEvents, ...). */
export type EventHandler<E extends Event> = ((event: E) => void) | { handleEvent(event: E): void };

/** Marks the wrappers addEventListener registers, so removeEventListener and onX find them. */
export const kListener = Symbol('wasmsocket.listener');
export const kForOnEventAttribute = Symbol('wasmsocket.onEventAttribute');

export interface Wrapped {
  (...args: unknown[]): void;
  [kListener]: EventListenerLike;
  [kForOnEventAttribute]?: boolean;
}

export const EVENT_TYPES = ['open', 'message', 'error', 'close'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * onopen/onmessage/onerror/onclose, addEventListener/removeEventListener and
 * dispatchEvent over the EventEmitter events 'open', 'message', 'error', 'close'.
 */
export abstract class WebSocketEventTarget extends EventEmitter {
  /** CloseEvent.wasClean for the close being reported. */
  protected abstract _wasClean(): boolean;

  get onopen(): EventHandler<Event> | null { return this._getOn('open'); }
  set onopen(h: EventHandler<Event> | null) { this._setOn('open', h); }
  get onmessage(): EventHandler<MessageEvent> | null { return this._getOn('message') as EventHandler<MessageEvent> | null; }
  set onmessage(h: EventHandler<MessageEvent> | null) { this._setOn('message', h as EventListenerLike | null); }
  get onerror(): EventHandler<ErrorEvent> | null { return this._getOn('error') as EventHandler<ErrorEvent> | null; }
  set onerror(h: EventHandler<ErrorEvent> | null) { this._setOn('error', h as EventListenerLike | null); }
  get onclose(): EventHandler<CloseEvent> | null { return this._getOn('close') as EventHandler<CloseEvent> | null; }
  set onclose(h: EventHandler<CloseEvent> | null) { this._setOn('close', h as EventListenerLike | null); }

  addEventListener(type: string, handler: EventListenerLike | null, options: { once?: boolean } = {}): void {
    if (handler === null || !EVENT_TYPES.includes(type as EventType)) return;
    for (const l of this.listeners(type) as Wrapped[]) {
      if (l[kListener] === handler && !l[kForOnEventAttribute]) return;
    }
    const wrapped = this._wrap(type as EventType, handler);
    if (options.once) this.once(type, wrapped); else this.on(type, wrapped);
  }

  removeEventListener(type: string, handler: EventListenerLike | null): void {
    for (const l of this.listeners(type) as Wrapped[]) {
      if (l[kListener] === handler && !l[kForOnEventAttribute]) {
        this.removeListener(type, l);
        return;
      }
    }
  }

  dispatchEvent(event: Event): boolean {
    for (const l of this.listeners(event.type) as Wrapped[]) if (l[kListener]) call(l[kListener], this, event);
    return true;
  }

  private _getOn(type: EventType): EventListenerLike | null {
    for (const l of this.listeners(type) as Wrapped[]) if (l[kForOnEventAttribute]) return l[kListener];
    return null;
  }

  private _setOn(type: EventType, handler: EventListenerLike | null): void {
    for (const l of this.listeners(type) as Wrapped[]) {
      if (l[kForOnEventAttribute]) { this.removeListener(type, l); break; }
    }
    if (typeof handler !== 'function' && !(handler && typeof handler === 'object')) return;
    const wrapped = this._wrap(type, handler);
    wrapped[kForOnEventAttribute] = true;
    this.on(type, wrapped);
  }

  private _wrap(type: EventType, handler: EventListenerLike): Wrapped {
    let fn: (...args: unknown[]) => void;
    const self = this;
    switch (type) {
      case 'open': fn = function onOpen() { call(handler, self, new Event('open', self)); }; break;
      case 'message': fn = function onMessage(data: unknown, isBinary: unknown) {
        call(handler, self, new MessageEvent('message', { data: isBinary ? data : String(data) }, self));
      }; break;
      case 'close': fn = function onClose(code: unknown, reason: unknown) {
        call(handler, self, new CloseEvent('close', {
          code: code as number, reason: String(reason), wasClean: self._wasClean(),
        }, self));
      }; break;
      case 'error': fn = function onError(err: unknown) {
        call(handler, self, new ErrorEvent('error', { error: err, message: (err as Error)?.message ?? '' }, self));
      }; break;
    }
    const w = fn as Wrapped;
    w[kListener] = handler;
    return w;
  }
}

function call(handler: EventListenerLike, thisArg: unknown, event: Event): void {
  if (typeof handler === 'object' && handler !== null && typeof handler.handleEvent === 'function') handler.handleEvent.call(handler, event);
  else (handler as (e: Event) => void).call(thisArg, event);
}
