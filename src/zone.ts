import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { z } from 'zod';
import { quoteInput } from './http/errors.js';
import type { ZoneSegment } from './zone-offset.js';

/**
 * Time-zone arithmetic on top of Intl (no tz database of our own). A zone is described to the store
 * as a piecewise-constant UTC offset over a range, which is how a report buckets events by local
 * day, week or month in SQL without the database knowing any zone.
 *
 * Intl answers one instant at a time (about 10 µs each), so the offsets of a zone are worked out a
 * calendar year at a time, cached, and looked up from there: the cost of a report grows with the
 * years and transitions it spans, not with its buckets or its length in hours.
 */

/**
 * Intl's name for each zone name given, by its lower case, and one formatter per Intl name. Intl
 * takes a name in any letter case and a link's name for its zone; making a formatter costs about
 * 10 KB that a collection does not give back soon, so one is made only for a name not seen before
 * in any case (the valid ones are a bounded set; MAX_NAMES is a guard).
 */
const MAX_NAMES = 4096;
const intlNames = new Map<string, string>();
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Intl's name for the zone; undefined for a name Intl does not know. */
function intlName(zone: string): string | undefined {
  const key = zone.toLowerCase();
  let name = intlNames.get(key);
  if (name === undefined) {
    let f: Intl.DateTimeFormat;
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    } catch {
      return undefined;
    }
    name = f.resolvedOptions().timeZone;
    if (!formatters.has(name)) formatters.set(name, f);
    if (intlNames.size >= MAX_NAMES) intlNames.delete(intlNames.keys().next().value!);
    intlNames.set(key, name);
  }
  return name;
}

function formatter(zone: string): Intl.DateTimeFormat {
  const name = intlName(zone);
  if (name === undefined) throw new RangeError(`Invalid time zone specified: ${zone}`);
  return formatters.get(name)!;
}

/**
 * A zone name as given, in Intl's letter case where only that differs (`europe/paris` is
 * `Europe/Paris`); a link keeps its own name (Intl answers its zone's, e.g. `Asia/Calcutta` for
 * `Asia/Kolkata`).
 */
export const ZoneName = z.string().transform((zone, ctx) => {
  const name = zone.length > 64 ? undefined : intlName(zone);
  if (name === undefined) {
    ctx.addIssue({ code: 'custom', input: zone, message: `${quoteInput(zone)} is not an IANA time zone (e.g. Europe/Paris)` });
    return z.NEVER;
  }
  return name.toLowerCase() === zone.toLowerCase() ? name : zone;
});

/** Epoch ms of a UTC calendar time; any year, unlike Date.UTC, which reads years 0-99 as 1900-1999. */
export function utcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const d = new Date(Date.UTC(2000, month, day, hour, minute, second, ms));
  d.setUTCFullYear(d.getUTCFullYear() + year - 2000);
  return d.getTime();
}

function intlOffset(zone: string, ms: number): number {
  const name = formatter(zone).formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  return match ? (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) : 0;
}

/**
 * Offsets are sampled every 2 days and bisected where two samples differ. Two changes closer than
 * a sample step could cancel out unseen; the closest in the tz data from 1970 to 2200 are 7 days
 * apart (Asia/Gaza, Brazil in 2000), measured over every zone Intl knows.
 */
const SAMPLE_MS = 2 * 86_400_000;
/** Zones whose years stay cached; past it the least recently added zone is dropped. */
const MAX_ZONES = 64;
const years = new Map<string, Map<number, ZoneSegment[]>>();

/** The segments of one UTC calendar year: its offset at the start, then one per change within it. */
function computeYear(zone: string, year: number): ZoneSegment[] {
  const start = utcMs(year, 0, 1);
  const end = utcMs(year + 1, 0, 1);
  const segments = [{ from: start, offsetMinutes: intlOffset(zone, start) }];
  for (let t = start; t < end; t += SAMPLE_MS) {
    const next = Math.min(t + SAMPLE_MS, end);
    const after = intlOffset(zone, next);
    if (after === segments[segments.length - 1]!.offsetMinutes) continue;
    let lo = t;
    let hi = next;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (intlOffset(zone, mid) === after) hi = mid;
      else lo = mid;
    }
    if (hi < end) segments.push({ from: hi, offsetMinutes: after });
  }
  return segments;
}

function cachedYear(zone: string, year: number): ZoneSegment[] | undefined {
  return years.get(zone)?.get(year);
}

function storeYear(zone: string, year: number, segments: ZoneSegment[]): ZoneSegment[] {
  let table = years.get(zone);
  if (!table) {
    if (years.size >= MAX_ZONES) years.delete(years.keys().next().value!);
    years.set(zone, (table = new Map()));
  }
  table.set(year, segments);
  return segments;
}

function yearSegments(zone: string, year: number): ZoneSegment[] {
  return cachedYear(zone, year) ?? storeYear(zone, year, computeYear(zone, year));
}

const yearOf = (ms: number) => new Date(ms).getUTCFullYear();

/**
 * Works out the zone's offsets for every year of [from, to) not yet cached, a year at a time with
 * the event loop free in between (a year costs a few ms), so that what follows finds them cached.
 */
export async function prepareZone(zone: string, from: number, to: number): Promise<void> {
  if (zone === 'UTC') return;
  for (let year = yearOf(from); year <= yearOf(Math.max(from, to - 1)); year++) {
    if (cachedYear(zone, year)) continue;
    storeYear(zone, year, computeYear(zone, year));
    await yieldToLoop();
  }
}

/** The zone's offset from UTC at an instant, in minutes (Paris in winter: 60). */
export function offsetMinutes(zone: string, ms: number): number {
  if (zone === 'UTC') return 0;
  const table = cachedYear(zone, yearOf(ms));
  if (!table) return intlOffset(zone, ms);
  let offset = table[0]!.offsetMinutes;
  for (const s of table) if (s.from <= ms) offset = s.offsetMinutes;
  return offset;
}

/** The instant at which a local wall-clock time occurs in the zone (the later one in a DST gap). */
export function localToUtc(zone: string, year: number, month: number, day: number, hour = 0): number {
  const wall = utcMs(year, month, day, hour);
  let guess = wall - offsetMinutes(zone, wall) * 60_000;
  guess = wall - offsetMinutes(zone, guess) * 60_000;
  return guess;
}

/** The local calendar date and hour of an instant in the zone. */
export function utcToLocal(zone: string, ms: number): { year: number; month: number; day: number; hour: number } {
  const d = new Date(ms + offsetMinutes(zone, ms) * 60_000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth(), day: d.getUTCDate(), hour: d.getUTCHours() };
}

/**
 * The offsets in force over [from, to), one segment per change (DST transitions). Years not yet
 * cached are worked out here at once: call `prepareZone` first for a range of many years.
 */
export function zoneSegments(zone: string, from: number, to: number): ZoneSegment[] {
  const segments: ZoneSegment[] = [{ from: Number.MIN_SAFE_INTEGER, offsetMinutes: offsetMinutes(zone, from) }];
  if (zone === 'UTC') return segments;
  for (let year = yearOf(from); year <= yearOf(Math.max(from, to - 1)); year++) {
    for (const s of yearSegments(zone, year)) {
      if (s.from <= from || s.from >= to || s.offsetMinutes === segments[segments.length - 1]!.offsetMinutes) continue;
      segments.push(s);
    }
  }
  return segments;
}
