import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { canonicalJsonText, canonicalNumber, locateSpans } from './json-text';

/** How deep a parsed value nests (0 for a scalar). */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, d + 1);
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** JSON text of a value, with random white space between tokens (as callers send it). */
const spaced = (value: unknown, indent: number) => JSON.stringify(value, null, indent);

/** A value as its JSON text holds it: what a slice of that text can give back (-0 is written `0`). */
const asWritten = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('locateSpans: where the payloads of a transactions body lie', () => {
  it('a single transaction: the payload exactly as written, whatever it holds, and its depth', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat({ max: 3 }), (payload, indent) => {
        const text = spaced({ relationshipId: 'rel_1', payload, businessNumber: 'PO-1' }, indent);
        const { payload: span } = locateSpans(text);
        expect(span).toBeDefined();
        const slice = text.slice(span!.start, span!.end);
        expect(JSON.parse(slice)).toEqual(asWritten(payload));
        expect(span!.depth).toBe(depthOf(payload));
      }),
    );
  });

  it('a batch: each item and its payload', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ payload: fc.jsonValue(), idempotencyKey: fc.string() }), { maxLength: 5 }), fc.nat({ max: 2 }), (items, indent) => {
        const text = spaced({ transactions: items.map((it) => ({ relationshipId: 'r', ...it })) }, indent);
        const { items: spans } = locateSpans(text);
        expect(spans).toHaveLength(items.length);
        spans.forEach((s, i) => {
          expect(JSON.parse(text.slice(s.item.start, s.item.end))).toEqual(asWritten({ relationshipId: 'r', ...items[i] }));
          expect(JSON.parse(text.slice(s.payload!.start, s.payload!.end))).toEqual(asWritten(items[i].payload));
          expect(s.payload!.depth).toBe(depthOf(items[i].payload));
        });
      }),
    );
  });

  it('keeps what a parsed value cannot: big numbers, escapes, NUL, lone surrogates, white space', () => {
    const payload = '{ "n": 12345678901234567890123, "x": 1e400, "s": "a\\u0000b", "lone": "\\ud800", "k\\"ey": [1.50 , -0.0] }';
    const text = `{"payload":${payload},"relationshipId":"rel_1"}`;
    const span = locateSpans(text).payload!;
    expect(text.slice(span.start, span.end)).toBe(payload);
    expect(span.depth).toBe(2);
  });

  it('walks a payload thousands deep without recursion', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(locateSpans(`{"payload":${deep}}`).payload).toEqual({ start: 11, end: 11 + deep.length, depth: 100_000 });
  });

  it('finds a key written with escapes', () => {
    const text = '{"pay\\u006coad":[1]}';
    expect(locateSpans(text).payload).toEqual({ start: 16, end: 19, depth: 1 });
  });
});

describe('canonicalJsonText: one text per JSON value, nothing lost', () => {
  it('equal values give equal texts, whatever the key order or spacing; different values, different texts', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), fc.nat({ max: 3 }), (a, b, indent) => {
        const ca = canonicalJsonText(spaced(a, indent));
        expect(canonicalJsonText(spaced(shuffleKeys(a), 0))).toBe(ca);
        expect(canonicalJsonText(spaced(b, 0)) === ca).toBe(isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b))));
      }),
    );
  });

  it('numbers compare as exact decimals', () => {
    expect(canonicalJsonText('12345678901234567890123')).not.toBe(canonicalJsonText('12345678901234567890124'));
    expect(canonicalJsonText('[1, 1.0, 10e-1, 0.1e1]')).toBe('[1e0,1e0,1e0,1e0]');
    expect(canonicalJsonText('[0, -0, 0.000, 0e5]')).toBe('[0,0,0,0]');
    expect(canonicalNumber('1e400')).toBe('1e400');
    expect(canonicalNumber('-120.500')).toBe('-1205e-1');
  });

  it('strings compare by their characters, however escaped; NUL and lone surrogates kept', () => {
    expect(canonicalJsonText('"\\u0041\\n"')).toBe(canonicalJsonText('"A\\u000a"'));
    expect(canonicalJsonText('"a\\u0000b"')).not.toBe(canonicalJsonText('"ab"'));
    expect(canonicalJsonText('"\\ud800"')).not.toBe(canonicalJsonText('"\\ud801"'));
  });

  it('leaves out the top-level members it is told to (a batch item’s own idempotencyKey)', () => {
    expect(canonicalJsonText('{"b":1,"idempotencyKey":"k","a":{"idempotencyKey":2}}', ['idempotencyKey'])).toBe('{"a":{"idempotencyKey":2e0},"b":1e0}');
  });

  it('walks a value thousands deep without recursion', () => {
    const deep = '['.repeat(50_000) + ']'.repeat(50_000);
    expect(canonicalJsonText(deep)).toBe(deep);
  });
});

function shuffleKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shuffleKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, shuffleKeys(x)]));
}
