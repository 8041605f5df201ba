import fc from 'fast-check';
import { decodeCursor, encodeCursor, ListQuery, toPage } from './pagination';
import { ProblemError } from './problem';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

/** What decodeCursor throws for `cursor`, or fails the test if it does not refuse it. */
function refusal(cursor: string): ProblemError {
  try {
    const keyset = decodeCursor(cursor);
    throw new Error(`the cursor ${JSON.stringify(cursor)} was taken as ${JSON.stringify(keyset)}`);
  } catch (err) {
    if (!(err instanceof ProblemError)) throw err;
    return err;
  }
}

describe('cursors', () => {
  it('a cursor round-trips to the keyset it was made from', () => {
    const keyset = { at: '2030-01-01T00:00:00.000Z', id: 'tx_0190f5a3c9e47c1e8b1a2b3c4d5e6f70' };
    expect(decodeCursor(encodeCursor(keyset))).toEqual(keyset);
  });

  /** Ids as the API gives them: 1–200 characters of text (no control characters, well-formed). */
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  const ids = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 50 }).filter((s) => s.length <= 200 && !/[\u0000-\u001f\u007f-\u009f]/.test(s));

  it('for any time and id, decode(encode(keyset)) is the keyset', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), ids, (date, id) => {
        const keyset = { at: date.toISOString(), id };
        expect(decodeCursor(encodeCursor(keyset))).toEqual(keyset);
      }),
    );
  });

  it('a cursor is URL-safe and opaque (no padding, no +, /, =)', () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true }), fc.string(), (date, id) => {
        expect(encodeCursor({ at: date.toISOString(), id })).toMatch(/^[A-Za-z0-9_-]*$/);
      }),
    );
  });

  it.each([undefined, ''])('no cursor (%j) means the first page', (cursor) => {
    expect(decodeCursor(cursor)).toBeNull();
  });

  it.each<[string, string]>([
    ['random text', 'not-a-cursor'],
    ['punctuation', '!!!'],
    ['base64 of text that is not JSON', b64('hello')],
    ['base64 of an object', b64('{"at":"2030-01-01T00:00:00.000Z","id":"x"}')],
    ['base64 of null', b64('null')],
    ['base64 of a number', b64('42')],
    ['base64 of an empty list', b64('[]')],
    ['base64 of a list of numbers', b64('[1,2]')],
    ['base64 of a list whose time is not a time', b64('["yesterday","tx_1"]')],
    ['base64 of a list without an id', b64('["2030-01-01T00:00:00.000Z"]')],
    ['base64 of a list whose id is a number', b64('["2030-01-01T00:00:00.000Z",7]')],
  ])('a garbage cursor (%s) is a 400 naming query.cursor', (_, cursor) => {
    const err = refusal(cursor);
    expect(err.status).toBe(400);
    expect(err.errors).toEqual([{ path: 'query.cursor', message: expect.any(String) }]);
  });

  it.each<[string, string]>([
    ['a lone number as the time', b64('["1","tx_1"]')],
    ['a date without a year', b64('["March 7","tx_1"]')],
    ['a JSON string (its first two characters taken as time and id)', b64('"1x"')],
    ['an id holding NUL', b64('["2030-01-01T00:00:00.000Z","tx_\\u0000"]')],
    ['an id holding an unpaired surrogate', b64('["2030-01-01T00:00:00.000Z","tx_\\ud800"]')],
    ['an id holding a line break', b64('["2030-01-01T00:00:00.000Z","tx_\\r\\n"]')],
    ['an empty id', b64('["2030-01-01T00:00:00.000Z",""]')],
    ['an id of 201 characters', b64(JSON.stringify(['2030-01-01T00:00:00.000Z', 'x'.repeat(201)]))],
    ['the year +275760', b64('["+275760-09-13T00:00:00.000Z","tx_1"]')],
    ['the year -000001', b64('["-000001-01-01T00:00:00.000Z","tx_1"]')],
    ['the year 0000', b64('["0000-01-01T00:00:00.000Z","tx_1"]')],
    ['a time with an offset', b64('["2030-01-01T00:00:00.000+01:00","tx_1"]')],
  ])('a cursor this API never gives (%s) is a 400, not a time handed to the database', (_, cursor) => {
    expect(refusal(cursor).status).toBe(400);
  });

  it('whatever the cursor, decoding gives a keyset or a 400 — never another error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map(b64), fc.jsonValue().map((v) => b64(JSON.stringify(v)))), (cursor) => {
        try {
          const keyset = decodeCursor(cursor);
          if (keyset !== null) expect(typeof keyset.at === 'string' && typeof keyset.id === 'string').toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(ProblemError);
          expect((err as ProblemError).status).toBe(400);
        }
      }),
    );
  });
});

describe('ListQuery (?limit= and ?cursor=)', () => {
  it('limit defaults to 50', () => {
    expect(ListQuery.parse({})).toEqual({ limit: 50 });
  });

  it('limit comes from the query string as text', () => {
    expect(ListQuery.parse({ limit: '10', cursor: 'abc' })).toEqual({ limit: 10, cursor: 'abc' });
  });

  it('accepts exactly the limits 1–100', () => {
    fc.assert(
      fc.property(fc.integer({ min: -50, max: 250 }), (n) => {
        expect(ListQuery.safeParse({ limit: String(n) }).success).toBe(n >= 1 && n <= 100);
      }),
    );
  });

  it.each(['abc', '2.5', ''])('limit %j is refused', (limit) => {
    expect(ListQuery.safeParse({ limit }).success).toBe(false);
  });
});

describe('toPage', () => {
  const rows = Array.from({ length: 5 }, (_, i) => ({ id: `r${i}`, at: new Date(Date.UTC(2030, 0, 5 - i)).toISOString() }));
  const keyOf = (r: { id: string; at: string }) => ({ at: r.at, id: r.id });
  const view = (r: { id: string }) => r.id;

  it('with one row more than the limit, gives the limit and a cursor after the last row shown', () => {
    const page = toPage(rows.slice(0, 4), 3, keyOf, view);
    expect(page.data).toEqual(['r0', 'r1', 'r2']);
    expect(decodeCursor(page.nextCursor!)).toEqual(keyOf(rows[2]));
  });

  it('with no more rows than the limit, it is the last page (nextCursor null)', () => {
    expect(toPage(rows.slice(0, 3), 3, keyOf, view)).toEqual({ data: ['r0', 'r1', 'r2'], nextCursor: null });
    expect(toPage([], 3, keyOf, view)).toEqual({ data: [], nextCursor: null });
  });
});
