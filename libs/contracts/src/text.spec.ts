import fc from 'fast-check';
import { displayName, identifier, textProblem, timestamp } from './text';

describe('text accepted in ids and names', () => {
  it.each(['ACME', 'Acme ERP', 'rel_0190f5a3', 'Bücher & Co', '東京', '😀 emoji (a surrogate pair)', 'a-b_c.d:e/f'])('%j is text', (s) => {
    expect(textProblem(s)).toBeNull();
  });

  it.each([
    ['NUL', 'a\u0000b', /control/],
    ['CR LF', 'a\r\nX-Evil: 1', /control/],
    ['a tab', 'a\tb', /control/],
    ['DEL', 'a\u007f', /control/],
    ['a C1 control', 'a\u0085b', /control/],
    ['a lone high surrogate', 'a\ud800', /surrogate/],
    ['a lone low surrogate', '\udc00a', /surrogate/],
    ['two high surrogates', '\ud800\ud800', /surrogate/],
    ['a reversed pair', '\ude00\ud83d', /surrogate/],
  ])('%s is refused', (_what, s, reason) => {
    expect(textProblem(s)).toMatch(reason);
  });

  it('property: any string is refused exactly when it holds a control character or is not well-formed', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        // eslint-disable-next-line no-control-regex -- finding control characters is the point
        const bad = /[\u0000-\u001f\u007f-\u009f]/.test(s) || !isWellFormed(s);
        expect(textProblem(s) !== null).toBe(bad);
      }),
      { numRuns: 2_000 },
    );
  });

  it('identifier and displayName bound the length and name the problem', () => {
    expect(identifier().safeParse('x'.repeat(200)).success).toBe(true);
    expect(identifier().safeParse('x'.repeat(201)).success).toBe(false);
    expect(identifier().safeParse('').success).toBe(false);
    expect(identifier().safeParse('tx_\u0000').error?.issues[0].message).toMatch(/control/);
    expect(displayName().parse('  Acme  ')).toBe('Acme');
    expect(displayName().safeParse('   ').success).toBe(false);
    expect(displayName().safeParse('Acme\ud800').error?.issues[0].message).toMatch(/surrogate/);
  });
});

describe('timestamp', () => {
  it.each(['2030-01-01T00:00:00Z', '2030-01-01T00:00:00.123456789+02:00', '0001-01-01T00:00:00+14:00', '9999-12-31T23:59:59.999-14:00'])(
    '%s is a time',
    (s) => {
      expect(timestamp().safeParse(s).success).toBe(true);
    },
  );

  it.each([
    ['year 0', '0000-01-01T00:00:00Z'],
    ['an offset beyond any time zone', '9999-12-31T23:59:59-23:59'],
    ['an offset of +16:00', '2030-01-01T00:00:00+16:00'],
    ['a six-digit year', '+275760-09-13T00:00:00.000Z'],
    ['no offset', '2030-01-01T00:00:00'],
    ['30 February', '2030-02-30T00:00:00Z'],
  ])('%s is refused', (_what, s) => {
    expect(timestamp().safeParse(s).success).toBe(false);
  });
});

function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}
