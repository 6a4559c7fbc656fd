// The browser's WebSocket event API (Event, MessageEvent, CloseEvent, ErrorEvent,
// addEventListener / onX) on top of the Node EventEmitter, so browser code runs
// unchanged in Node.

export class WsEvent {
  readonly type: string;
  target: unknown;
  constructor(type: string, target: unknown) {
    this.type = type;
    this.target = target;
  }
  get currentTarget(): unknown { return this.target; }
  get srcElement(): unknown { return this.target; }
}

export class MessageEvent extends WsEvent {
  readonly data: unknown;
  constructor(type: string, init: { data?: unknown } = {}, target?: unknown) {
    super(type, target ?? null);
    this.data = init.data ?? null;
  }
}

export class CloseEvent extends WsEvent {
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

export class ErrorEvent extends WsEvent {
  readonly error: unknown;
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}, target?: unknown) {
    super(type, target ?? null);
    this.error = init.error ?? null;
    this.message = init.message ?? '';
  }
}

export type EventListenerLike = ((event: WsEvent) => void) | { handleEvent(event: WsEvent): void };

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
