// permessage-deflate parameter negotiation (RFC 7692 §5, §7), as pure functions
// over the parsed Sec-WebSocket-Extensions parameters and the options.
//
// A server takes the first offer it can honour; an offer it cannot (unknown
// parameter, repeated parameter, bad value, or a configuration our options rule
// out) is declined and the next one is tried (§5); if none is left,
// acceptAsServer() throws and the connection layer should answer without the
// extension. A client validates the server's single response and throws on
// anything it did not ask for or cannot honour; the connection must then be
// failed (RFC 6455 §9.1). The table of decisions is in acceptAsServer() /
// acceptAsClient().
import type { ExtensionParams } from './extension.js';

/** Negotiated (or offered) parameters, as offer() and accept() return them. */
export type PerMessageDeflateParams = {
  server_no_context_takeover?: true;
  client_no_context_takeover?: true;
  server_max_window_bits?: number;
  /** `true` (no value) only in a client's offer. */
  client_max_window_bits?: number | true;
};

/** The perMessageDeflate options (ws's) that negotiation reads. */
export interface DeflateNegotiationOptions {
  /** Request (client) / accept (server, unless false) resetting the server's context after each message. */
  serverNoContextTakeover?: boolean;
  /** Request (client) / impose (server) resetting the client's context after each message. */
  clientNoContextTakeover?: boolean;
  /** Client: request this server window (8..15). Server: cap the server window; false declines offers that limit it. */
  serverMaxWindowBits?: boolean | number;
  /** Client: advertise support (true, default) or limit our window (number); false: don't offer. Server: impose a client window. */
  clientMaxWindowBits?: boolean | number;
}

const WINDOW_BITS_VALUE = /^(?:[89]|1[0-5])$/;

type ParamValue = string | number | true;
/** What parseExtensions() gives per offer (numbers are tolerated as values too). */
type RawParams = Readonly<Record<string, ReadonlyArray<ParamValue>>>;

function windowBits(key: string, v: ParamValue): number {
  if (typeof v === 'number' ? Number.isInteger(v) && v >= 8 && v <= 15 : typeof v === 'string' && WINDOW_BITS_VALUE.test(v)) {
    return Number(v);
  }
  throw new TypeError(`Invalid value for parameter "${key}": ${String(v)}`);
}

// Validates one offer / response: known parameters, each once, valid values.
// In a response client_max_window_bits needs a value; in an offer it may be bare.
function normalizeParams(params: RawParams, inOffer: boolean): PerMessageDeflateParams {
  const out: PerMessageDeflateParams = {};
  for (const key of Object.keys(params)) {
    const values = params[key];
    if (!Array.isArray(values) || values.length !== 1) {
      throw new Error(`Parameter "${key}" must have only a single value`);
    }
    const v = values[0] as ParamValue;
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (v !== true) throw new TypeError(`Invalid value for parameter "${key}": ${String(v)}`);
        out[key] = true;
        break;
      case 'server_max_window_bits':
        out.server_max_window_bits = windowBits(key, v);
        break;
      case 'client_max_window_bits':
        if (v === true && inOffer) out.client_max_window_bits = true;
        else out.client_max_window_bits = windowBits(key, v);
        break;
      default:
        throw new Error(`Unknown parameter "${key}"`);
    }
  }
  return out;
}

/** Params in one fixed order (server_no_context_takeover, client_no_context_takeover, server_max_window_bits, client_max_window_bits). */
function canonical(p: PerMessageDeflateParams): PerMessageDeflateParams {
  const out: PerMessageDeflateParams = {};
  if (p.server_no_context_takeover) out.server_no_context_takeover = true;
  if (p.client_no_context_takeover) out.client_no_context_takeover = true;
  if (p.server_max_window_bits !== undefined) out.server_max_window_bits = p.server_max_window_bits;
  if (p.client_max_window_bits !== undefined) out.client_max_window_bits = p.client_max_window_bits;
  return out;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/** Throws a RangeError unless `v` is a boolean, undefined or an integer from 8 to 15. */
export function checkWindowOption(name: string, v: boolean | number | undefined): void {
  if (typeof v === 'number' && !(Number.isInteger(v) && v >= 8 && v <= 15)) {
    throw new RangeError(`Invalid ${name}: ${v} (must be an integer from 8 to 15, or a boolean)`);
  }
}

/** Client: the parameters to offer for options `o`. */
export function offerParams(o: DeflateNegotiationOptions): PerMessageDeflateParams {
  const params: PerMessageDeflateParams = {};
  if (o.serverNoContextTakeover) params.server_no_context_takeover = true;
  if (o.clientNoContextTakeover) params.client_no_context_takeover = true;
  // ws offers a bare server_max_window_bits for `true`, which RFC 7692 §7.1.2.1
  // forbids (it needs a value); we offer it only with a number.
  if (typeof o.serverMaxWindowBits === 'number') params.server_max_window_bits = o.serverMaxWindowBits;
  if (typeof o.clientMaxWindowBits === 'number') params.client_max_window_bits = o.clientMaxWindowBits;
  else if (o.clientMaxWindowBits !== false) params.client_max_window_bits = true;
  return params;
}

// Server side. For each offer, in order:
//   offer has an unknown / repeated parameter or a bad value  -> decline this offer (§5)
//   server_no_context_takeover offered, option === false     -> decline
//   server_max_window_bits offered, option === false         -> decline
//   clientMaxWindowBits is a number, offer lacks client_max_window_bits
//                                                             -> decline (we could not limit the client, §7.1.2.2)
// The first offer not declined is answered with:
//   server_no_context_takeover  if offered (§7.1.1.1 MUST) or option === true
//   client_no_context_takeover  if option === true, or offered and option !== false
//   server_max_window_bits=min(offer, option)   when either is a number (8..15; a smaller window is always allowed)
//   client_max_window_bits=min(offer, option)   only if offered (§7.1.2.2) and option !== false, when either is a number
export function acceptAsServer(offers: ReadonlyArray<ExtensionParams>, o: DeflateNegotiationOptions): PerMessageDeflateParams {
  const reasons: string[] = [];
  for (let i = 0; i < offers.length; i++) {
    let offer: PerMessageDeflateParams;
    try {
      offer = normalizeParams(offers[i] as RawParams, true);
    } catch (e) {
      reasons.push(`offer ${i + 1}: ${(e as Error).message}`);
      continue;
    }
    let why = '';
    if (offer.server_no_context_takeover && o.serverNoContextTakeover === false) {
      why = 'server_no_context_takeover is disabled';
    } else if (offer.server_max_window_bits !== undefined && o.serverMaxWindowBits === false) {
      why = 'server_max_window_bits is disabled';
    } else if (typeof o.clientMaxWindowBits === 'number' && offer.client_max_window_bits === undefined) {
      why = 'client_max_window_bits is required';
    }
    if (why !== '') {
      reasons.push(`offer ${i + 1}: ${why}`);
      continue;
    }

    const res: PerMessageDeflateParams = {};
    if (offer.server_no_context_takeover || o.serverNoContextTakeover === true) res.server_no_context_takeover = true;
    if (o.clientNoContextTakeover === true || (offer.client_no_context_takeover && o.clientNoContextTakeover !== false)) {
      res.client_no_context_takeover = true;
    }
    const serverBits = minDefined(offer.server_max_window_bits,
      typeof o.serverMaxWindowBits === 'number' ? o.serverMaxWindowBits : undefined);
    if (serverBits !== undefined) res.server_max_window_bits = serverBits;
    if (offer.client_max_window_bits !== undefined && o.clientMaxWindowBits !== false) {
      const clientBits = minDefined(
        typeof offer.client_max_window_bits === 'number' ? offer.client_max_window_bits : undefined,
        typeof o.clientMaxWindowBits === 'number' ? o.clientMaxWindowBits : undefined);
      if (clientBits !== undefined) res.client_max_window_bits = clientBits;
    }
    return res;
  }
  const detail = reasons.length > 0 ? ` (${reasons.join('; ')})` : '';
  throw new Error(`None of the extension offers can be accepted${detail}`);
}

// Client side. The response must be one configuration of known parameters,
// each once, with valid values (client_max_window_bits needs a value), and:
//   client_no_context_takeover while clientNoContextTakeover === false   -> throw
//   server_max_window_bits above the number we offered                   -> throw (§7.1.2.1: same or smaller)
//   client_max_window_bits when we did not offer it (option false)       -> throw (§7.1.2.2 MUST NOT)
//   client_max_window_bits above the number we offered                   -> throw
//   server_no_context_takeover / server_max_window_bits not offered      -> fine (§7.1.1.1, §7.1.2.1 MAY)
//   no client_max_window_bits but we offered a number N                  -> we use N (as ws)
// A server that leaves out server_no_context_takeover or server_max_window_bits
// we asked for is tolerated, as ws does: we then inflate assuming context
// takeover and a 15-bit window, which decodes any valid stream.
export function acceptAsClient(response: ReadonlyArray<ExtensionParams>, o: DeflateNegotiationOptions): PerMessageDeflateParams {
  if (response.length !== 1) {
    throw new Error(response.length === 0
      ? 'Missing permessage-deflate response parameters'
      : 'The server responded with more than one permessage-deflate configuration');
  }
  const p = normalizeParams(response[0] as RawParams, false);
  if (p.client_no_context_takeover && o.clientNoContextTakeover === false) {
    throw new Error('Unexpected parameter "client_no_context_takeover"');
  }
  if (p.server_max_window_bits !== undefined && typeof o.serverMaxWindowBits === 'number' &&
      p.server_max_window_bits > o.serverMaxWindowBits) {
    throw new Error('Unexpected or invalid parameter "server_max_window_bits"');
  }
  if (p.client_max_window_bits !== undefined) {
    if (o.clientMaxWindowBits === false ||
        (typeof o.clientMaxWindowBits === 'number' && (p.client_max_window_bits as number) > o.clientMaxWindowBits)) {
      throw new Error('Unexpected or invalid parameter "client_max_window_bits"');
    }
  } else if (typeof o.clientMaxWindowBits === 'number') {
    p.client_max_window_bits = o.clientMaxWindowBits;
  }
  return canonical(p);
}
