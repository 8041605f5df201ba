/**
 * JSON as text: where a request body's payloads lie, how deep they nest, and a canonical form for
 * comparing two JSON values without loss. Everything here walks the text with an explicit stack
 * (never recursion: a payload nested thousands deep must not overflow the stack), and works on
 * text that `JSON.parse` has already accepted.
 *
 * Why text: a payload is delivered exactly as it was sent — the same characters, numbers of any
 * size and precision, `\u0000` inside strings — which a parsed JavaScript value cannot promise
 * (`12345678901234567890123` becomes `1.2345678901234568e+22`, `1e400` becomes `null`).
 */

/** A value's place in the text: `text.slice(start, end)`, and how deep it nests (0 for a scalar). */
export interface Span {
  start: number;
  end: number;
  depth: number;
}

/** Where the payloads (and, in a batch, the items) of a transactions body lie. */
export interface BodySpans {
  /** A single transaction: `{ …, "payload": … }`. */
  payload?: Span;
  /** A batch: `{ "transactions": [ { …, "payload": … }, … ] }`, by item index. */
  items: { item: Span; payload?: Span }[];
}

type Segment = string | number;

/** The path of every value below the third level: none is a payload or an item. */
const DEEP: Segment[] = ['', '', '', ''];

interface Frame {
  kind: 'object' | 'array';
  path: Segment[];
  /** Objects: the key whose value comes next (null while a key is expected). Arrays: the next index. */
  key: string | null;
  index: number;
  start: number;
}

/**
 * Finds the spans of a transactions body's payloads and batch items, with their depth. `text`
 * must be JSON that `JSON.parse` accepted (its structure is not checked again).
 */
export function locateSpans(text: string): BodySpans {
  const spans: BodySpans = { items: [] };
  const stack: Frame[] = [];
  /** Spans being read (an item holds its payload): their start depth and the deepest reached. */
  const open: { path: Segment[]; start: number; base: number; max: number }[] = [];
  const record = (path: Segment[], start: number, end: number, depth: number) => {
    if (path.length === 1 && path[0] === 'payload') spans.payload = { start, end, depth };
    else if (path.length === 2 && path[0] === 'transactions' && typeof path[1] === 'number') (spans.items[path[1]] ??= { item: { start, end, depth } }).item = { start, end, depth };
    else if (path.length === 3 && path[0] === 'transactions' && typeof path[1] === 'number' && path[2] === 'payload') {
      (spans.items[path[1]] ??= { item: { start: 0, end: 0, depth: 0 } }).payload = { start, end, depth };
    }
  };
  const wanted = (path: Segment[]) =>
    (path.length === 1 && path[0] === 'payload') ||
    (path[0] === 'transactions' && typeof path[1] === 'number' && (path.length === 2 || (path.length === 3 && path[2] === 'payload')));
  /** The path of the value that starts now, in the innermost container (past three levels, one shared path that no span wants). */
  const nextPath = (): Segment[] => {
    const top = stack[stack.length - 1];
    if (!top) return [];
    if (top.path.length >= 3) return DEEP;
    return [...top.path, top.kind === 'object' ? (top.key as string) : top.index];
  };
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x3a /* : */) {
      i++;
      continue;
    }
    if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top.kind === 'array') top.index++;
      else top.key = null;
      i++;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const path = nextPath();
      stack.push({ kind: c === 0x7b ? 'object' : 'array', path, key: null, index: 0, start: i });
      if (wanted(path)) open.push({ path, start: i, base: stack.length - 1, max: stack.length - 1 });
      for (const o of open) o.max = Math.max(o.max, stack.length);
      i++;
      continue;
    }
    if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      const frame = stack.pop() as Frame;
      i++;
      const last = open[open.length - 1];
      if (last && last.start === frame.start) {
        open.pop();
        record(last.path, last.start, i, last.max - last.base);
      }
      continue;
    }
    // A scalar: a string (maybe a key), a number, true, false or null.
    const start = i;
    if (c === 0x22 /* " */) {
      i = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.key === null) {
        const raw = text.slice(start, i);
        top.key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        continue;
      }
    } else {
      while (i < n && !isDelimiter(text.charCodeAt(i))) i++;
    }
    const path = nextPath();
    if (wanted(path)) record(path, start, i, 0);
  }
  return spans;
}

/** The index just past the string token that starts at `i` (its opening quote). */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; ; ) {
    const q = text.indexOf('"', j);
    if (q < 0) throw new Error('unterminated string');
    let backslashes = 0;
    for (let k = q - 1; text.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    j = q + 1;
  }
}

function isDelimiter(c: number): boolean {
  return c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x3a;
}

/**
 * A canonical text of a JSON value, equal for equal values and different for different ones, with
 * nothing lost: object keys sorted (by UTF-16 code units), strings re-escaped the one way
 * `JSON.stringify` does, numbers as exact decimals (`1.0`, `1` and `10e-1` are one number;
 * `…123` and `…124` are two). Members of the top-level object named in `omitKeys` are left out
 * (a batch item's own `idempotencyKey`).
 */
export function canonicalJsonText(text: string, omitKeys: readonly string[] = []): string {
  // Built bottom-up: each container collects its members' canonical texts; a closed container
  // becomes one text in its parent.
  interface Container {
    kind: 'object' | 'array';
    members: string[];
    keys: string[];
    key: string | null;
    top: boolean;
  }
  const stack: Container[] = [];
  let result: string | null = null;
  const emit = (value: string) => {
    const top = stack[stack.length - 1];
    if (!top) {
      result = value;
      return;
    }
    if (top.kind === 'array') top.members.push(value);
    else {
      const key = top.key as string;
      top.key = null;
      if (top.top && omitKeys.includes(key)) return;
      top.keys.push(key);
      top.members.push(value);
    }
  };
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x3a || c === 0x2c) {
      i++;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      stack.push({ kind: c === 0x7b ? 'object' : 'array', members: [], keys: [], key: null, top: stack.length === 0 });
      i++;
      continue;
    }
    if (c === 0x7d || c === 0x5d) {
      const done = stack.pop() as Container;
      i++;
      if (done.kind === 'array') {
        emit(`[${done.members.join(',')}]`);
        continue;
      }
      const order = done.keys.map((k, at) => at).sort((a, b) => compareUnits(done.keys[a], done.keys[b]));
      emit(`{${order.map((at) => `${JSON.stringify(done.keys[at])}:${done.members[at]}`).join(',')}}`);
      continue;
    }
    const start = i;
    if (c === 0x22) {
      i = stringEnd(text, i);
      const value = JSON.parse(text.slice(start, i)) as string;
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.key === null) top.key = value;
      else emit(JSON.stringify(value));
      continue;
    }
    while (i < n && !isDelimiter(text.charCodeAt(i))) i++;
    const literal = text.slice(start, i);
    emit(literal === 'true' || literal === 'false' || literal === 'null' ? literal : canonicalNumber(literal));
  }
  if (result === null) throw new Error('no JSON value');
  return result;
}

/** A JSON number literal as an exact decimal: `[-]<digits>e<exponent>` with no leading or trailing zeros, or `0`. */
export function canonicalNumber(literal: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) throw new Error(`not a JSON number: ${literal}`);
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = (int + frac).replace(/^0+/, '');
  if (digits === '') return '0';
  let exponent = BigInt(exp) - BigInt(frac.length);
  const trailing = digits.length - digits.replace(/0+$/, '').length;
  digits = digits.slice(0, digits.length - trailing);
  exponent += BigInt(trailing);
  return `${sign}${digits}e${exponent}`;
}

function compareUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
