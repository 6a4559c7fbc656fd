// Sec-WebSocket-Extensions parsing / formatting and permessage-deflate
// negotiation (RFC 6455 §9.1, RFC 7692 §5, §7), checked byte for byte as
// header strings and cross-checked against ws.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatExtensions, parseExtensions, type ExtensionOffers } from '../src/codec/extension.ts';
import { PerMessageDeflate, type PerMessageDeflateOptions } from '../src/node/deflate/permessage-deflate.ts';
import { prng } from './helpers/codec-harness.ts';

const require = createRequire(import.meta.url);
// ws's package.json "exports" hides lib/: load the files by path.
const wsLib = join(dirname(require.resolve('ws')), 'lib');
const wsExtension = require(join(wsLib, 'extension.js')) as {
  parse(header: string): Record<string, Array<Record<string, Array<string | true>>>>;
  format(extensions: Record<string, unknown>): string;
};
type WsParams = Record<string, string | number | boolean>;
interface WsPmd {
  offer(): WsParams;
  accept(configurations: Array<Record<string, Array<string | true>>>): WsParams;
}
const WsPerMessageDeflate = require(join(wsLib, 'permessage-deflate.js')) as new (options: object) => WsPmd;

const NAME = 'permessage-deflate';

function plain(offers: ExtensionOffers): unknown {
  return JSON.parse(JSON.stringify(offers));
}

describe('parseExtensions', () => {
  const ok: Array<[string, unknown]> = [
    ['foo', { foo: [{}] }],
    ['foo, bar', { foo: [{}], bar: [{}] }],
    ['foo; bar', { foo: [{ bar: [true] }] }],
    ['foo; bar=baz', { foo: [{ bar: ['baz'] }] }],
    ['foo; bar="baz"', { foo: [{ bar: ['baz'] }] }],
    ['foo; bar="b\\az"', { foo: [{ bar: ['baz'] }] }],
    ['foo; bar="\\baz"', { foo: [{ bar: ['baz'] }] }],
    ['foo; bar=1; bar=2', { foo: [{ bar: ['1', '2'] }] }],
    ['foo; bar; baz=1, foo; qux', { foo: [{ bar: [true], baz: ['1'] }, { qux: [true] }] }],
    ['foo;bar;baz=1,foo;qux', { foo: [{ bar: [true], baz: ['1'] }, { qux: [true] }] }],
    ['foo \t; \tbar \t, \tbaz', { foo: [{ bar: [true] }], baz: [{}] }],
    ['foo; bar="1" ; baz', { foo: [{ bar: ['1'], baz: [true] }] }],
    [
      'permessage-deflate; client_max_window_bits; server_max_window_bits="10", permessage-deflate',
      { 'permessage-deflate': [{ client_max_window_bits: [true], server_max_window_bits: ['10'] }, {}] },
    ],
    ["a!#$%&'*+-.^_`|~9Z; x=!#$%&'*+-.^_`|~", { "a!#$%&'*+-.^_`|~9Z": [{ x: ["!#$%&'*+-.^_`|~"] }] }],
  ];
  for (const [header, expected] of ok) {
    it(`parses ${JSON.stringify(header)}`, () => {
      const parsed = parseExtensions(header);
      expect(plain(parsed)).toEqual(JSON.parse(JSON.stringify(expected)));
      expect(Object.getPrototypeOf(parsed)).toBe(null);
      expect(plain(parsed)).toEqual(plain(wsExtension.parse(header)));
    });
  }

  it('keeps __proto__ as an ordinary key', () => {
    const parsed = parseExtensions('__proto__; __proto__=x');
    expect(Object.keys(parsed)).toEqual(['__proto__']);
    expect(parsed['__proto__']?.[0]?.['__proto__']).toEqual(['x']);
    expect(({} as Record<string, unknown>).x).toBe(undefined);
  });

  const bad: Array<[string, string]> = [
    ['', 'Unexpected end of input'],
    [' foo', 'Unexpected character at index 0'],
    ['foo ', 'Unexpected end of input'],
    ['foo,', 'Unexpected end of input'],
    ['foo, ', 'Unexpected end of input'],
    ['foo;', 'Unexpected end of input'],
    ['foo,,bar', 'Unexpected character at index 4'],
    ['foo;;bar', 'Unexpected character at index 4'],
    [',foo', 'Unexpected character at index 0'],
    [';foo', 'Unexpected character at index 0'],
    ['foo bar', 'Unexpected character at index 4'],
    ['foo=bar', 'Unexpected character at index 3'],
    ['foo; bar =1', 'Unexpected character at index 9'],
    ['foo; bar= 1', 'Unexpected character at index 9'],
    ['foo; bar=', 'Unexpected end of input'],
    ['foo; bar=1 2', 'Unexpected character at index 11'],
    ['foo; bar=""', 'Unexpected character at index 10'],
    ['foo; bar="1', 'Unexpected end of input'],
    ['foo; bar="1"2', 'Unexpected character at index 12'],
    ['foo; bar="1 2"', 'Unexpected character at index 11'],
    ['foo; bar="\\"', 'Unexpected character at index 11'],
    ['foo; bar="\\', 'Unexpected end of input'],
    ['foo; bar=1"', 'Unexpected character at index 10'],
    ['foo; bar="1" ', 'Unexpected end of input'],
    ['foo; b@r', 'Unexpected character at index 6'],
    ['fóo', 'Unexpected character at index 1'],
    ['foo; bar=1;', 'Unexpected end of input'],
  ];
  for (const [header, message] of bad) {
    it(`rejects ${JSON.stringify(header)}`, () => {
      expect(() => parseExtensions(header)).toThrow(SyntaxError);
      expect(() => parseExtensions(header)).toThrow(message);
      expect(() => wsExtension.parse(header)).toThrow(message);
    });
  }

  it('agrees with ws on 20000 random headers (result or error message)', () => {
    const rand = prng(7692);
    const alphabet = ['a', 'b', 'x', '1', '=', '"', '\\', ';', ',', ' ', '\t', '(', 'é', 'permessage-deflate', 'client_max_window_bits', '10'];
    let accepted = 0;
    for (let n = 0; n < 20000; n++) {
      const len = 1 + Math.floor(rand() * 14);
      let header = '';
      for (let i = 0; i < len; i++) header += alphabet[Math.floor(rand() * alphabet.length)];
      let ours: unknown, theirs: unknown;
      try { ours = plain(parseExtensions(header)); } catch (e) { ours = `${(e as Error).name}: ${(e as Error).message}`; }
      try { theirs = plain(wsExtension.parse(header)); } catch (e) { theirs = `${(e as Error).name}: ${(e as Error).message}`; }
      if (typeof ours !== 'string') accepted++;
      expect({ header, result: ours }).toEqual({ header, result: theirs });
    }
    expect(accepted).toBeGreaterThan(200);
  });
});

describe('formatExtensions', () => {
  it('formats names, bare params, values and lists like ws', () => {
    const input = {
      foo: [{ bar: [true, 'x'], baz: 1 }, {}],
      'permessage-deflate': { client_max_window_bits: true, server_max_window_bits: 10 },
    };
    const expected = 'foo; bar; bar=x; baz=1, foo, permessage-deflate; client_max_window_bits; server_max_window_bits=10';
    expect(formatExtensions(input)).toBe(expected);
    expect(wsExtension.format(input)).toBe(expected);
  });

  it('round-trips through parseExtensions', () => {
    const header = 'a; b; c=1, a, d; e=f';
    expect(formatExtensions(parseExtensions(header))).toBe(header);
  });

  it('leaves out false / null / undefined values', () => {
    expect(formatExtensions({ a: { b: false, c: null, d: undefined, e: true } })).toBe('a; e');
  });

  it('rejects names and values that are not tokens (no header injection)', () => {
    expect(() => formatExtensions({ 'a b': {} })).toThrow(TypeError);
    expect(() => formatExtensions({ a: { 'b\r\nx': true } })).toThrow(TypeError);
    expect(() => formatExtensions({ a: { b: 'x\r\nSet-Cookie: y' } })).toThrow(TypeError);
    expect(() => formatExtensions({ a: { b: '' } })).toThrow(TypeError);
  });
});

// ---------------------------------------------------------------------------

/** Server side: offer header in, response header out (or the error message). */
function serverAnswer(offerHeader: string, options: PerMessageDeflateOptions = {}): string {
  const pmd = new PerMessageDeflate(options, true, 0);
  const offers = parseExtensions(offerHeader)[NAME] ?? [];
  try {
    const params = pmd.accept(offers);
    expect(pmd.params).toBe(params);
    return formatExtensions({ [NAME]: params });
  } catch (e) {
    return `throws: ${(e as Error).message}`;
  } finally {
    pmd.cleanup();
  }
}

/** Client side: the offer our options produce. */
function clientOffer(options: PerMessageDeflateOptions = {}): string {
  const pmd = new PerMessageDeflate(options, false, 0);
  return formatExtensions({ [NAME]: pmd.offer() });
}

/** Client side: response header in, accepted params out (or the error message). */
function clientAccept(responseHeader: string, options: PerMessageDeflateOptions = {}): string {
  const pmd = new PerMessageDeflate(options, false, 0);
  pmd.offer();
  try {
    return formatExtensions({ [NAME]: pmd.accept(parseExtensions(responseHeader)[NAME] ?? []) });
  } catch (e) {
    return `throws: ${(e as Error).message}`;
  } finally {
    pmd.cleanup();
  }
}

const P = NAME;

describe('server: accept(offers)', () => {
  const cases: Array<[string, PerMessageDeflateOptions, string, string]> = [
    // [what, options, offer, response]
    ['plain offer', {}, `${P}`, `${P}`],
    ['bare client_max_window_bits is dropped (client keeps 15)', {}, `${P}; client_max_window_bits`, `${P}`],
    ['client_max_window_bits with a value is echoed', {}, `${P}; client_max_window_bits=10`, `${P}; client_max_window_bits=10`],
    ['server_max_window_bits is honoured', {}, `${P}; server_max_window_bits=10`, `${P}; server_max_window_bits=10`],
    ['server_no_context_takeover is accepted (MUST be echoed)', {}, `${P}; server_no_context_takeover`, `${P}; server_no_context_takeover`],
    ['client_no_context_takeover is echoed', {}, `${P}; client_no_context_takeover`, `${P}; client_no_context_takeover`],
    ['all four, answered in canonical order', {},
      `${P}; client_max_window_bits=12; server_max_window_bits=9; client_no_context_takeover; server_no_context_takeover`,
      `${P}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12`],
    ['quoted values', {}, `${P}; server_max_window_bits="11"; client_max_window_bits="12"`,
      `${P}; server_max_window_bits=11; client_max_window_bits=12`],
    ['server_max_window_bits=8 is accepted (compressed with 9 bits, max distance 250)', {},
      `${P}; server_max_window_bits=8`, `${P}; server_max_window_bits=8`],
    ['client_max_window_bits=8 is accepted', {}, `${P}; client_max_window_bits=8`, `${P}; client_max_window_bits=8`],
    ['server_max_window_bits=15', {}, `${P}; server_max_window_bits=15`, `${P}; server_max_window_bits=15`],

    // several offers: the first acceptable one wins
    ['first of several offers', {}, `${P}; server_max_window_bits=10, ${P}; client_max_window_bits`, `${P}; server_max_window_bits=10`],
    ['duplicate parameter declines that offer, next one taken', {},
      `${P}; server_max_window_bits=10; server_max_window_bits=11, ${P}; client_max_window_bits=9`, `${P}; client_max_window_bits=9`],
    ['unknown parameter declines that offer', {}, `${P}; foo, ${P}`, `${P}`],
    ['bad value declines that offer', {}, `${P}; server_max_window_bits=16, ${P}; server_no_context_takeover`,
      `${P}; server_no_context_takeover`],

    // nothing acceptable
    ['duplicate parameter only', {}, `${P}; client_no_context_takeover; client_no_context_takeover`,
      'throws: None of the extension offers can be accepted (offer 1: Parameter "client_no_context_takeover" must have only a single value)'],
    ['duplicate window bits only', {}, `${P}; client_max_window_bits=10; client_max_window_bits=10`,
      'throws: None of the extension offers can be accepted (offer 1: Parameter "client_max_window_bits" must have only a single value)'],
    ['unknown parameter only', {}, `${P}; foo=1`,
      'throws: None of the extension offers can be accepted (offer 1: Unknown parameter "foo")'],
    ['server_max_window_bits=7', {}, `${P}; server_max_window_bits=7`,
      'throws: None of the extension offers can be accepted (offer 1: Invalid value for parameter "server_max_window_bits": 7)'],
    ['server_max_window_bits=16', {}, `${P}; server_max_window_bits=16`,
      'throws: None of the extension offers can be accepted (offer 1: Invalid value for parameter "server_max_window_bits": 16)'],
    ['server_max_window_bits=08 (leading zero)', {}, `${P}; server_max_window_bits=08`,
      'throws: None of the extension offers can be accepted (offer 1: Invalid value for parameter "server_max_window_bits": 08)'],
    ['server_max_window_bits=abc', {}, `${P}; server_max_window_bits=abc`,
      'throws: None of the extension offers can be accepted (offer 1: Invalid value for parameter "server_max_window_bits": abc)'],
    ['bare server_max_window_bits', {}, `${P}; server_max_window_bits`,
      'throws: None of the extension offers can be accepted (offer 1: Invalid value for parameter "server_max_window_bits": true)'],
    ['client_max_window_bits=7', {}, `${P}; client_max_window_bits=7`,
      'throws: None of the extension offers can be accepted (offer 1: Invalid value for parameter "client_max_window_bits": 7)'],
    ['server_no_context_takeover with a value', {}, `${P}; server_no_context_takeover=1`,
      'throws: None of the extension offers can be accepted (offer 1: Invalid value for parameter "server_no_context_takeover": 1)'],
    ['client_no_context_takeover with a quoted value', {}, `${P}; client_no_context_takeover="x"`,
      'throws: None of the extension offers can be accepted (offer 1: Invalid value for parameter "client_no_context_takeover": x)'],
    ['every offer bad: reasons listed', {}, `${P}; a, ${P}; server_max_window_bits=1`,
      'throws: None of the extension offers can be accepted (offer 1: Unknown parameter "a"; offer 2: Invalid value for parameter "server_max_window_bits": 1)'],

    // our options
    ['serverNoContextTakeover: true imposes it', { serverNoContextTakeover: true }, `${P}`, `${P}; server_no_context_takeover`],
    ['serverNoContextTakeover: false declines offers asking for it', { serverNoContextTakeover: false },
      `${P}; server_no_context_takeover`,
      'throws: None of the extension offers can be accepted (offer 1: server_no_context_takeover is disabled)'],
    ['serverNoContextTakeover: false takes a later offer', { serverNoContextTakeover: false },
      `${P}; server_no_context_takeover, ${P}`, `${P}`],
    ['clientNoContextTakeover: true imposes it', { clientNoContextTakeover: true }, `${P}`, `${P}; client_no_context_takeover`],
    ['clientNoContextTakeover: false does not echo it', { clientNoContextTakeover: false }, `${P}; client_no_context_takeover`, `${P}`],
    ['serverMaxWindowBits: 10 announces it', { serverMaxWindowBits: 10 }, `${P}`, `${P}; server_max_window_bits=10`],
    ['serverMaxWindowBits: 10 caps a larger request', { serverMaxWindowBits: 10 }, `${P}; server_max_window_bits=12`,
      `${P}; server_max_window_bits=10`],
    ['serverMaxWindowBits: 10 follows a smaller request', { serverMaxWindowBits: 10 }, `${P}; server_max_window_bits=9`,
      `${P}; server_max_window_bits=9`],
    ['serverMaxWindowBits: false declines offers limiting it', { serverMaxWindowBits: false }, `${P}; server_max_window_bits=10`,
      'throws: None of the extension offers can be accepted (offer 1: server_max_window_bits is disabled)'],
    ['serverMaxWindowBits: true echoes the request', { serverMaxWindowBits: true }, `${P}; server_max_window_bits=12`,
      `${P}; server_max_window_bits=12`],
    ['clientMaxWindowBits: 10 on a bare offer', { clientMaxWindowBits: 10 }, `${P}; client_max_window_bits`, `${P}; client_max_window_bits=10`],
    ['clientMaxWindowBits: 10 caps a larger value', { clientMaxWindowBits: 10 }, `${P}; client_max_window_bits=12`,
      `${P}; client_max_window_bits=10`],
    ['clientMaxWindowBits: 10 keeps a smaller value', { clientMaxWindowBits: 10 }, `${P}; client_max_window_bits=9`,
      `${P}; client_max_window_bits=9`],
    ['clientMaxWindowBits: 10 declines offers that cannot be limited', { clientMaxWindowBits: 10 }, `${P}`,
      'throws: None of the extension offers can be accepted (offer 1: client_max_window_bits is required)'],
    ['clientMaxWindowBits: 10 takes a later offer that can be limited', { clientMaxWindowBits: 10 },
      `${P}, ${P}; client_max_window_bits`, `${P}; client_max_window_bits=10`],
    ['clientMaxWindowBits: false never answers it', { clientMaxWindowBits: false }, `${P}; client_max_window_bits=10`, `${P}`],
    ['clientMaxWindowBits: 8', { clientMaxWindowBits: 8 }, `${P}; client_max_window_bits`, `${P}; client_max_window_bits=8`],
    ['everything imposed', { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 12 },
      `${P}; client_max_window_bits`,
      `${P}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=12`],
    ['no permessage-deflate offer at all', {}, 'x-webkit-deflate-frame', 'throws: None of the extension offers can be accepted'],
  ];
  for (const [what, options, offer, response] of cases) {
    it(`${what}: ${offer}`, () => {
      expect(serverAnswer(offer, options)).toBe(response);
    });
  }

  for (let bits = 8; bits <= 15; bits++) {
    it(`window bits ${bits} both ways`, () => {
      expect(serverAnswer(`${P}; server_max_window_bits=${bits}; client_max_window_bits=${bits}`))
        .toBe(`${P}; server_max_window_bits=${bits}; client_max_window_bits=${bits}`);
    });
  }

  it('does not modify the parsed offers', () => {
    const offers = parseExtensions(`${P}; client_max_window_bits; server_max_window_bits=10`)[P] ?? [];
    const before = JSON.stringify(offers);
    new PerMessageDeflate({ serverNoContextTakeover: true }, true, 0).accept(offers);
    expect(JSON.stringify(offers)).toBe(before);
  });

  it('accept() twice throws', () => {
    const pmd = new PerMessageDeflate({}, true, 0);
    pmd.accept([{}]);
    expect(() => pmd.accept([{}])).toThrow(/already negotiated/);
  });
});

describe('client: offer()', () => {
  const cases: Array<[PerMessageDeflateOptions | true, string]> = [
    [true, `${P}; client_max_window_bits`],
    [{}, `${P}; client_max_window_bits`],
    [{ clientMaxWindowBits: true }, `${P}; client_max_window_bits`],
    [{ clientMaxWindowBits: false }, `${P}`],
    [{ clientMaxWindowBits: 10 }, `${P}; client_max_window_bits=10`],
    [{ serverMaxWindowBits: 9 }, `${P}; server_max_window_bits=9; client_max_window_bits`],
    [{ serverMaxWindowBits: true }, `${P}; client_max_window_bits`],
    [{ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
      `${P}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11`],
  ];
  for (const [options, offer] of cases) {
    it(`${JSON.stringify(options)} offers ${offer}`, () => {
      const pmd = new PerMessageDeflate(options, false, 0);
      expect(formatExtensions({ [P]: pmd.offer() })).toBe(offer);
    });
  }

  it('rejects window bits options outside 8..15', () => {
    expect(() => new PerMessageDeflate({ clientMaxWindowBits: 7 }, false, 0)).toThrow(RangeError);
    expect(() => new PerMessageDeflate({ serverMaxWindowBits: 16 }, false, 0)).toThrow(RangeError);
    expect(() => new PerMessageDeflate({ serverMaxWindowBits: 9.5 }, true, 0)).toThrow(RangeError);
  });
});

describe('client: accept(response)', () => {
  const cases: Array<[string, PerMessageDeflateOptions, string, string]> = [
    // [what, options, response, accepted]
    ['plain', {}, `${P}`, `${P}`],
    ['server_no_context_takeover we did not ask for', {}, `${P}; server_no_context_takeover`, `${P}; server_no_context_takeover`],
    ['client_no_context_takeover imposed by the server', {}, `${P}; client_no_context_takeover`, `${P}; client_no_context_takeover`],
    ['server_max_window_bits we did not ask for', {}, `${P}; server_max_window_bits=10`, `${P}; server_max_window_bits=10`],
    ['client_max_window_bits picked by the server (bare offer)', {}, `${P}; client_max_window_bits=8`, `${P}; client_max_window_bits=8`],
    ['quoted value', {}, `${P}; client_max_window_bits="9"`, `${P}; client_max_window_bits=9`],
    ['canonical order', {}, `${P}; client_max_window_bits=9; server_no_context_takeover`,
      `${P}; server_no_context_takeover; client_max_window_bits=9`],
    ['server window smaller than requested', { serverMaxWindowBits: 10 }, `${P}; server_max_window_bits=9`, `${P}; server_max_window_bits=9`],
    ['server window as requested', { serverMaxWindowBits: 10 }, `${P}; server_max_window_bits=10`, `${P}; server_max_window_bits=10`],
    ['server omitted the server window we requested (tolerated, inflate with 15)', { serverMaxWindowBits: 10 }, `${P}`, `${P}`],
    ['our client window used when the server does not answer it', { clientMaxWindowBits: 10 }, `${P}`, `${P}; client_max_window_bits=10`],
    ['client window smaller than offered', { clientMaxWindowBits: 10 }, `${P}; client_max_window_bits=9`, `${P}; client_max_window_bits=9`],

    ['server window larger than requested', { serverMaxWindowBits: 10 }, `${P}; server_max_window_bits=11`,
      'throws: Unexpected or invalid parameter "server_max_window_bits"'],
    ['client window larger than offered', { clientMaxWindowBits: 10 }, `${P}; client_max_window_bits=11`,
      'throws: Unexpected or invalid parameter "client_max_window_bits"'],
    ['client_max_window_bits not offered', { clientMaxWindowBits: false }, `${P}; client_max_window_bits=10`,
      'throws: Unexpected or invalid parameter "client_max_window_bits"'],
    ['client_no_context_takeover refused by option', { clientNoContextTakeover: false }, `${P}; client_no_context_takeover`,
      'throws: Unexpected parameter "client_no_context_takeover"'],
    ['bare client_max_window_bits in a response', {}, `${P}; client_max_window_bits`,
      'throws: Invalid value for parameter "client_max_window_bits": true'],
    ['duplicate parameter', {}, `${P}; server_no_context_takeover; server_no_context_takeover`,
      'throws: Parameter "server_no_context_takeover" must have only a single value'],
    ['unknown parameter', {}, `${P}; foo`, 'throws: Unknown parameter "foo"'],
    ['window bits 16', {}, `${P}; server_max_window_bits=16`, 'throws: Invalid value for parameter "server_max_window_bits": 16'],
    ['window bits 7', {}, `${P}; client_max_window_bits=7`, 'throws: Invalid value for parameter "client_max_window_bits": 7'],
    ['two configurations', {}, `${P}, ${P}`, 'throws: The server responded with more than one permessage-deflate configuration'],
    ['no configuration', {}, 'foo', 'throws: Missing permessage-deflate response parameters'],
  ];
  for (const [what, options, response, accepted] of cases) {
    it(`${what}: ${response}`, () => {
      expect(clientAccept(response, options)).toBe(accepted);
    });
  }

  for (let bits = 8; bits <= 15; bits++) {
    it(`window bits ${bits} both ways`, () => {
      expect(clientAccept(`${P}; server_max_window_bits=${bits}; client_max_window_bits=${bits}`))
        .toBe(`${P}; server_max_window_bits=${bits}; client_max_window_bits=${bits}`);
    });
  }
});

describe('interop with ws negotiation', () => {
  const optionSets: PerMessageDeflateOptions[] = [
    {},
    { serverNoContextTakeover: true },
    { clientNoContextTakeover: true },
    { serverMaxWindowBits: 10 },
    { clientMaxWindowBits: 9 },
    { clientMaxWindowBits: false },
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 11 },
  ];

  for (const clientOptions of optionSets) {
    for (const serverOptions of optionSets) {
      it(`our client ${JSON.stringify(clientOptions)} / ws server ${JSON.stringify(serverOptions)}`, () => {
        const offer = clientOffer(clientOptions);
        const ws = new WsPerMessageDeflate({ ...serverOptions, isServer: true });
        let answer: string;
        try {
          answer = wsExtension.format({ [P]: ws.accept(wsExtension.parse(offer)[P] ?? []) });
        } catch {
          return; // ws declines; nothing to check on our side
        }
        const accepted = clientAccept(answer, clientOptions);
        expect(accepted.startsWith('throws')).toBe(false);
      });

      it(`ws client ${JSON.stringify(clientOptions)} / our server ${JSON.stringify(serverOptions)}`, () => {
        const wsClient = new WsPerMessageDeflate({ ...clientOptions, isServer: false });
        const offer = wsExtension.format({ [P]: wsClient.offer() });
        const wsServer = new WsPerMessageDeflate({ ...serverOptions, isServer: true });
        let wsAnswer: string | null;
        try {
          wsAnswer = wsExtension.format({ [P]: wsServer.accept(wsExtension.parse(offer)[P] ?? []) });
        } catch {
          wsAnswer = null;
        }
        const ours = serverAnswer(offer, serverOptions);
        if (wsAnswer !== null) {
          // Whenever ws agrees, we agree too, and a ws client accepts our answer.
          expect(ours.startsWith('throws')).toBe(false);
        }
        if (!ours.startsWith('throws')) {
          expect(() => wsClient.accept(wsExtension.parse(ours)[P] ?? [])).not.toThrow();
        }
      });
    }
  }
});
