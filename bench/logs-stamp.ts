/**
 * Writing a logs record's time and Claude Code request_id straight into encoded bytes, for the logs
 * load's client to make every record of every request a new call. The load's client runs on the
 * service's cores, so these take no BigInt, Date or string a value: with them, stamping cost
 * ~1.5 µs a record, without ~0.2 (docs/benchmarks.md, "Logs load client, session 19").
 */

/**
 * Writes `ms` and `subMs` (ns below the ms, under 10^6) as fixed64 nanoseconds at `at`: in two
 * 32-bit halves, every product below 2^53 so exact.
 */
export function writeNanos(ms: number, subMs: number, into: Buffer, at: number): void {
  const high = Math.floor(ms / 2 ** 32);
  const lowNanos = (ms - high * 2 ** 32) * 1e6 + subMs;
  const carry = Math.floor(lowNanos / 2 ** 32);
  into.writeUInt32LE(lowNanos - carry * 2 ** 32, at);
  into.writeUInt32LE(high * 1e6 + carry, at + 4);
}

/** The ISO text's `YYYY-MM-DDTHH:MM:` of the last minute written: a request's records fall within seconds of each other. */
const minutePrefix = Buffer.alloc(17);
let prefixMinute = NaN;
const ZERO = 0x30;

/** Writes `ms` as `new Date(ms).toISOString()` does (`YYYY-MM-DDTHH:MM:SS.mmmZ`, 24 bytes) at `at`. */
export function writeIsoTime(ms: number, into: Buffer, at: number): void {
  const minute = Math.floor(ms / 60_000);
  if (minute !== prefixMinute) {
    minutePrefix.write(new Date(minute * 60_000).toISOString(), 'latin1');
    prefixMinute = minute;
  }
  for (let i = 0; i < 17; i++) into[at + i] = minutePrefix[i]!;
  const inMinute = ms - minute * 60_000;
  const seconds = Math.floor(inMinute / 1000);
  const millis = inMinute - seconds * 1000;
  into[at + 17] = ZERO + Math.floor(seconds / 10);
  into[at + 18] = ZERO + (seconds % 10);
  into[at + 19] = 0x2e;
  into[at + 20] = ZERO + Math.floor(millis / 100);
  into[at + 21] = ZERO + (Math.floor(millis / 10) % 10);
  into[at + 22] = ZERO + (millis % 10);
  into[at + 23] = 0x5a;
}

/**
 * Claude Code's request_id is the Anthropic API's: `req_011C` and 20 base58 digits, which read as
 * one number are the call's time in ms (since about 2023-07-07 12:00 UTC) times 2^80, plus 80 bits
 * that tell calls of the same millisecond apart. So ids of calls made close in time share their
 * start, and a later call's id sorts after an earlier one's. Public ids with a known date decode to
 * it: req_011CSHoEeqs5C35K2UUqR7Fy (Anthropic's docs, August 2025) to 2025-08-20,
 * req_011Cb5yifXRS84ZBXqQCW8hL (a bot's log of 2026-05-16) to 2026-05-16,
 * req_011CfKMizsVsBFXTfU7EVVhQ (first seen 2026-09-23) to 2026-09-23, and two calls made one
 * after the other, req_011CacuXVv6cHVEr1AGAz5S9 and req_011CacuXX7HJwkyZT2rV6ABn, to 279 ms apart.
 */
export const REQUEST_ID_EPOCH = Date.UTC(2023, 6, 7, 12);
export const REQUEST_ID_PREFIX = 'req_011C';
const BASE58 = Buffer.from('123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz', 'latin1');
const REQUEST_ID_DIGITS = 20;
/** Past this many ms after the epoch (mid-2028) the time no longer fits above the 80 bits in 20 digits. */
const REQUEST_ID_MS_LIMIT = Math.floor(58 ** REQUEST_ID_DIGITS / 2 ** 80);
const LIMB = 2 ** 40;
const TWO_DIGITS = 58 * 58;

/**
 * Writes the 20 digits of the request_id of a call at `ms` whose low 80 bits are `low` (48 bits)
 * and `stamp` (32) into `into` at `at`. The number is held in three 40-bit limbs (the time; `low`
 * but its last byte; that byte and `stamp`) and divided by 58² a pass, two digits at a time: a
 * remainder times 2^40 plus a limb stays below 58² · 2^40 < 2^52, so every step is exact, and the
 * quotient's floor is too (its fraction is at least 1/58² away from the next integer, more than
 * the rounding of a quotient below 2^40).
 */
export function writeRequestId(ms: number, low: number, stamp: number, into: Buffer, at: number): void {
  const t = ms - REQUEST_ID_EPOCH;
  if (t < 0 || t >= REQUEST_ID_MS_LIMIT) throw new Error(`a request_id's 20 digits hold times from ${new Date(REQUEST_ID_EPOCH).toISOString()} to ${new Date(REQUEST_ID_EPOCH + REQUEST_ID_MS_LIMIT).toISOString()}`);
  const lowByte = low % 256;
  let high = t;
  let middle = (low - lowByte) / 256;
  let last = lowByte * 2 ** 32 + stamp;
  for (let d = REQUEST_ID_DIGITS - 1; d > 0; d -= 2) {
    let value = high;
    high = Math.floor(value / TWO_DIGITS);
    value = (value - high * TWO_DIGITS) * LIMB + middle;
    middle = Math.floor(value / TWO_DIGITS);
    value = (value - middle * TWO_DIGITS) * LIMB + last;
    last = Math.floor(value / TWO_DIGITS);
    const rest = value - last * TWO_DIGITS;
    const upper = Math.floor(rest / 58);
    into[at + d] = BASE58[rest - upper * 58]!;
    into[at + d - 1] = BASE58[upper]!;
  }
}

/** The request_id of a call at `ms` with low bits `low` and `stamp` (see writeRequestId). */
export function requestIdOf(ms: number, low: number, stamp: number): string {
  const id = Buffer.alloc(REQUEST_ID_PREFIX.length + REQUEST_ID_DIGITS, REQUEST_ID_PREFIX, 'latin1');
  writeRequestId(ms, low, stamp, id, REQUEST_ID_PREFIX.length);
  return id.toString('latin1');
}
