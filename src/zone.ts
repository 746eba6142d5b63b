import { z } from 'zod';

/**
 * Time-zone arithmetic on top of Intl (no tz database of our own). A zone is described to the store
 * as a piecewise-constant UTC offset over a range, which is how a report buckets events by local
 * day, week or month in SQL without the database knowing any zone.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    formatters.set(zone, f);
  }
  return f;
}

export const ZoneName = z.string().refine((zone) => {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}, { error: (issue) => `"${String(issue.input)}" is not an IANA time zone (e.g. Europe/Paris)` });

/** The zone's offset from UTC at an instant, in minutes (Paris in winter: 60). */
export function offsetMinutes(zone: string, ms: number): number {
  const name = formatter(zone).formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  return match ? (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) : 0;
}

/** The instant at which a local wall-clock time occurs in the zone (the later one in a DST gap). */
export function localToUtc(zone: string, year: number, month: number, day: number, hour = 0): number {
  const wall = Date.UTC(year, month, day, hour);
  let guess = wall - offsetMinutes(zone, wall) * 60_000;
  guess = wall - offsetMinutes(zone, guess) * 60_000;
  return guess;
}

/** The local calendar date and hour of an instant in the zone. */
export function utcToLocal(zone: string, ms: number): { year: number; month: number; day: number; hour: number } {
  const d = new Date(ms + offsetMinutes(zone, ms) * 60_000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth(), day: d.getUTCDate(), hour: d.getUTCHours() };
}

export interface ZoneSegment {
  /** The segment applies from this instant (epoch ms) on, until the next segment's start. */
  from: number;
  offsetMinutes: number;
}

const HOUR_MS = 3_600_000;

/** The offsets in force over [from, to), one segment per change (DST transitions). */
export function zoneSegments(zone: string, from: number, to: number): ZoneSegment[] {
  const segments: ZoneSegment[] = [{ from: Number.MIN_SAFE_INTEGER, offsetMinutes: offsetMinutes(zone, from) }];
  // Offsets change at most a few times a year and never twice within 6 hours: sample, then bisect.
  for (let t = from; t < to; t += 6 * HOUR_MS) {
    const next = Math.min(t + 6 * HOUR_MS, to);
    const after = offsetMinutes(zone, next);
    if (after === segments[segments.length - 1]!.offsetMinutes) continue;
    let lo = t;
    let hi = next;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offsetMinutes(zone, mid) === after) hi = mid;
      else lo = mid;
    }
    segments.push({ from: hi, offsetMinutes: after });
  }
  return segments;
}

export function formatOffset(minutes: number): string {
  if (minutes === 0) return 'Z';
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
