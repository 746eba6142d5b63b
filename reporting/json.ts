import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * JSON text with each BigInt (a sum past 2^53 − 1, see metrics.ts) written as its exact digits:
 * Node 20 has no JSON.rawJSON. An answer without one, the common case, is stringified once, as
 * c.json does; one with a BigInt is stringified again, each BigInt marked by a token nobody can
 * send (random per answer), and the marked strings are unquoted.
 */
export function exactJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError && error.message.includes('BigInt'))) throw error;
  }
  const mark = randomBytes(16).toString('hex');
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${mark}${v}` : v));
  return text.replace(new RegExp(`"${mark}(-?\\d+)"`, 'g'), '$1');
}

/**
 * Main-thread time one piece of an answer aims at, and one turn of writing it at most (issue 17: no
 * request holds the event loop for more than ~50 ms); between turns other requests get the loop.
 */
const PIECE_MS = 2;
const TURN_MS = 10;
/** Arrays this long or shorter are walked element by element: they may hold the large arrays. */
const WALKED = 16;

/**
 * `items` serialised a slice at a time by `write` (`first` on the first slice, called even when
 * there are none), the slice growing or shrinking so that each takes about PIECE_MS.
 */
export function* slices<T>(items: readonly T[], write: (slice: readonly T[], first: boolean) => string): Generator<string> {
  let size = 1;
  let at = 0;
  do {
    const started = performance.now();
    yield write(items.slice(at, at + size), at === 0);
    const ms = performance.now() - started;
    at += size;
    if (ms < PIECE_MS / 2) size *= 2;
    else if (ms > PIECE_MS) size = Math.max(1, size >> 1);
  } while (at < items.length);
}

/** A list whose elements are made as they are written (see mapLater). */
class Later<T, U> {
  constructor(
    readonly items: readonly T[],
    readonly map: (item: T) => U,
  ) {}

  toJSON(): U[] {
    return this.items.map(this.map);
  }
}

/**
 * `items.map(map)` for an answer written by exactJsonAnswer, which makes the elements a slice at a
 * time as it writes them: 10,000 groups or 1,000 series are never built in one piece, and each
 * slice's objects are garbage before the next. Typed as the array it stands for, which it is only
 * to JSON (exactJson gives the same text): use it nowhere else. `map` must not throw: after the
 * first slice the status is sent, and a throw can only cut the answer short.
 */
export function mapLater<T, U>(items: readonly T[], map: (item: T) => U): U[] {
  return new Later(items, map) as unknown as U[];
}

/** A long list as pieces: `[`, slices of its elements (`map`ped), `]`. */
function* listPieces<T>(items: readonly T[], map: (item: T) => unknown): Generator<string> {
  yield '[';
  yield* slices(items, (slice, first) => (first ? '' : ',') + exactJson(slice.map(map)).slice(1, -1));
  yield ']';
}

const same = <T>(item: T) => item;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v))
  && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
/**
 * An object with a mapLater list among its values (a Grafana series' datapoints, a table's rows):
 * a long array of them is walked element by element, as each list may be long. An answer's long
 * arrays hold one kind of element, so the first tells.
 */
const holdsLater = (v: unknown) => isPlainObject(v) && Object.values(v).some((x) => x instanceof Later);
/** What JSON.stringify leaves out of an object (and writes as null in an array). */
const omitted = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * exactJson(value) as pieces, the same text once joined: plain objects, short arrays and arrays of
 * objects holding mapLater lists are walked, other long arrays (and mapLater's lists) are written in
 * slices, anything else (toJSON, BigInt, …) goes through exactJson whole.
 */
function* jsonPieces(value: unknown): Generator<string> {
  if (value instanceof Later) {
    yield* listPieces(value.items, value.map);
  } else if (Array.isArray(value) && value.length > WALKED && !holdsLater(value[0])) {
    yield* listPieces(value, same);
  } else if (Array.isArray(value)) {
    yield '[';
    for (const [i, v] of value.entries()) {
      if (i) yield ',';
      yield* omitted(v) ? ['null'] : jsonPieces(v);
    }
    yield ']';
  } else if (isPlainObject(value)) {
    yield '{';
    let comma = '';
    for (const [k, v] of Object.entries(value)) {
      if (omitted(v)) continue;
      yield `${comma}${JSON.stringify(k)}:`;
      yield* jsonPieces(v);
      comma = ',';
    }
    yield '}';
  } else {
    yield exactJson(value);
  }
}

/**
 * The answer written from `pieces`: in one body when they take one turn (small answers are as
 * before), else streamed a turn at a time with the event loop free in between. All the data is
 * in hand before, so nothing can fail once the first byte is out.
 */
export function slicedAnswer(c: Context, pieces: Iterator<string>, status: ContentfulStatusCode | undefined, contentType: string): Response {
  const turn = () => {
    const until = performance.now() + TURN_MS;
    let text = '';
    for (let next = pieces.next(); ; next = pieces.next()) {
      if (next.done) return { text, done: true };
      text += next.value;
      if (performance.now() >= until) return { text, done: false };
    }
  };
  const first = turn();
  if (first.done) return c.body(first.text, status, { 'Content-Type': contentType });
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => controller.enqueue(encoder.encode(first.text)),
    pull: async (controller) => {
      await new Promise(setImmediate);
      const next = turn();
      if (next.text) controller.enqueue(encoder.encode(next.text));
      if (next.done) controller.close();
    },
  });
  return c.body(body, status, { 'Content-Type': contentType });
}

/** c.json for answers that may carry BigInt sums, large ones written a slice at a time. */
export function exactJsonAnswer(c: Context, value: unknown, status?: ContentfulStatusCode): Response {
  return slicedAnswer(c, jsonPieces(value), status, 'application/json');
}
