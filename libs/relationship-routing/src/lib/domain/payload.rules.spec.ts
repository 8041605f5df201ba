import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { checkPayload, requestFingerprint } from './payload.rules';
import { MAX_PAYLOAD_BYTES } from './transaction.input';

/** The fingerprint of a body sent as `JSON.stringify` writes it. */
const fp = (body: unknown) => requestFingerprint(JSON.stringify(body));

const MiB = 1024 * 1024;
const X12 = 'ISA*00*          *00*          *ZZ*ACME           *ZZ*GLOBEX         *300101*1253*U*00401*000000001*0*P*>~';
const XML = '<?xml version="1.0"?><Order><Number>PO-1</Number></Order>';

describe('checkPayload', () => {
  it('the default limit is 1 MiB per payload', () => {
    expect(MAX_PAYLOAD_BYTES).toBe(MiB);
  });

  describe('JSON channels take any JSON value, kept as its JSON text', () => {
    it.each<[string, unknown]>([
      ['an object', { po: 'PO-1', lines: [{ sku: 'A', qty: 2 }] }],
      ['an array', [1, 2, 3]],
      ['a string', 'hello'],
      ['a number', 42],
      ['true', true],
      ['null', null],
      ['an XML document as a string', XML],
    ])('%s', (_, payload) => {
      const text = JSON.stringify(payload);
      expect(checkPayload(payload, 'JSON', MiB)).toEqual({ ok: true, text, bytes: Buffer.byteLength(text) });
    });

    it('the size is counted in UTF-8 bytes of the JSON text', () => {
      const result = checkPayload({ name: 'Zürich €' }, 'JSON', MiB);
      expect(result).toEqual({ ok: true, text: '{"name":"Zürich €"}', bytes: 22 });
    });

    it('for any JSON value, the stored text parses back to the same value', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const result = checkPayload(value, 'JSON', 10 * MiB);
          if (!result.ok) throw new Error(result.message);
          expect(isDeepStrictEqual(JSON.parse(result.text), JSON.parse(JSON.stringify(value)))).toBe(true);
          expect(result.bytes).toBe(Buffer.byteLength(result.text, 'utf8'));
        }),
      );
    });
  });

  describe('XML and X12 channels take the document as a string', () => {
    it('an XML document is kept as it is', () => {
      expect(checkPayload(XML, 'XML', MiB)).toEqual({ ok: true, text: XML, bytes: Buffer.byteLength(XML) });
    });

    it('an XML document may start with white space', () => {
      expect(checkPayload(`\n  ${XML}`, 'XML', MiB).ok).toBe(true);
    });

    it('an X12 interchange is kept as it is', () => {
      expect(checkPayload(X12, 'X12', MiB)).toEqual({ ok: true, text: X12, bytes: Buffer.byteLength(X12) });
    });

    it.each<['XML' | 'X12', unknown]>([
      ['XML', { Order: 1 }],
      ['XML', 42],
      ['XML', null],
      ['X12', ['ISA']],
      ['X12', { isa: X12 }],
    ])('a %s channel refuses a payload that is not a string (%j) with 400', (format, payload) => {
      expect(checkPayload(payload, format, MiB)).toEqual({ ok: false, status: 400, message: expect.stringContaining('string') });
    });

    it('an X12 channel refuses a document that does not start with ISA, with 400', () => {
      expect(checkPayload('GS*PO*ACME*GLOBEX~', 'X12', MiB)).toEqual({ ok: false, status: 400, message: expect.stringContaining('ISA') });
    });

    it('an XML channel refuses text that is not XML, with 400', () => {
      expect(checkPayload('{"po":1}', 'XML', MiB)).toMatchObject({ ok: false, status: 400 });
    });
  });

  describe('size limit', () => {
    it.each(['JSON', 'XML', 'X12'] as const)('%s: a payload of exactly the limit passes; one byte more is 413', (format) => {
      const make = (bytes: number) => {
        if (format === 'JSON') return 'a'.repeat(bytes - 2); // JSON.stringify adds the two quotes
        const head = format === 'XML' ? '<a>' : 'ISA';
        return head + 'a'.repeat(bytes - head.length);
      };
      expect(checkPayload(make(MiB), format, MiB)).toMatchObject({ ok: true, bytes: MiB });
      expect(checkPayload(make(MiB + 1), format, MiB)).toEqual({ ok: false, status: 413, message: expect.stringContaining(String(MiB)) });
    });

    it('multi-byte characters count as their UTF-8 bytes', () => {
      const euros = '<a>' + '€'.repeat(10); // 3 + 30 bytes, 13 characters
      expect(checkPayload(euros, 'XML', 33)).toMatchObject({ ok: true, bytes: 33 });
      expect(checkPayload(euros, 'XML', 32)).toMatchObject({ ok: false, status: 413 });
    });

    it('for any size and limit, a payload passes exactly when its bytes are within the limit', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 2, max: 4096 }), (extra, limit) => {
          const doc = 'ISA' + 'x'.repeat(extra);
          const result = checkPayload(doc, 'X12', limit);
          if (doc.length <= limit) expect(result).toMatchObject({ ok: true, bytes: doc.length });
          else expect(result).toMatchObject({ ok: false, status: 413 });
        }),
      );
    });
  });
});

describe('requestFingerprint (the Idempotency-Key body check)', () => {
  /** The same JSON value with every object's keys in another order. */
  function reorder(value: unknown, flip: boolean): unknown {
    if (Array.isArray(value)) return value.map((v) => reorder(v, flip));
    if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value).map(([k, v]) => [k, reorder(v, !flip)] as const);
      return Object.fromEntries(flip ? entries.reverse() : entries.sort(([a], [b]) => (a < b ? 1 : -1)));
    }
    return value;
  }

  it('the same body with keys in another order has the same fingerprint', () => {
    const a = { relationshipId: 'rel_1', payload: { po: 'PO-1', lines: [{ sku: 'A', qty: 2 }] }, stream: 'LIVE' };
    const b = { stream: 'LIVE', payload: { lines: [{ qty: 2, sku: 'A' }], po: 'PO-1' }, relationshipId: 'rel_1' };
    expect(fp(a)).toBe(fp(b));
  });

  it('a different value has another fingerprint', () => {
    const a = { relationshipId: 'rel_1', payload: { po: 'PO-1' } };
    expect(fp(a)).not.toBe(fp({ relationshipId: 'rel_1', payload: { po: 'PO-2' } }));
    expect(fp(a)).not.toBe(fp({ relationshipId: 'rel_1', payload: { po: 'PO-1' }, stream: 'TEST' }));
  });

  it.each<[string, unknown, unknown]>([
    ['a number and its string', { n: 1 }, { n: '1' }],
    ['null and a missing key', { a: null }, {}],
    ['an array and its reverse', [1, 2], [2, 1]],
    ['an empty array and an empty object', [], {}],
    ['nesting and a flat key with a dot', { a: { b: 1 } }, { 'a.b': 1 }],
    ['a key with a quote', { 'a"': 1 }, { a: 1 }],
    ['false and null', false, null],
  ])('%s differ', (_, a, b) => {
    expect(fp(a)).not.toBe(fp(b));
  });

  it('is a SHA-256 in hex', () => {
    expect(fp({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('for any JSON value, reordering its keys keeps the fingerprint', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, flip) => {
        expect(fp(reorder(value, flip))).toBe(fp(value));
      }),
    );
  });

  it('for any two JSON values, the fingerprints are equal exactly when the values are', () => {
    const normal = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }), (a, b) => {
        expect(fp(a) === fp(b)).toBe(isDeepStrictEqual(normal(a), normal(b)));
      }),
      { numRuns: 300 },
    );
  });

  it('for any JSON value, a small change changes the fingerprint', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1 }), fc.string(), (body, extraKey) => {
        const key = Object.keys(body)[0];
        const changed = { ...body, [key]: { was: body[key] } };
        expect(fp(changed)).not.toBe(fp(body));
        if (!(extraKey in body)) expect(fp({ ...body, [extraKey]: 0 })).not.toBe(fp(body));
      }),
    );
  });
});
