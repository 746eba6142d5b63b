import { describe, expect, it } from 'vitest';
import { localToUtc, offsetMinutes, prepareZone, utcMs, zoneSegments } from '../../src/zone.js';
import type { ZoneSegment } from '../../src/zone-offset.js';

/** Every change of offset over [from, to), found the slow way: Intl asked every hour, then bisected. */
function bruteForce(zone: string, from: number, to: number): ZoneSegment[] {
  // One formatter for all the questions: building one costs far more than asking it.
  const format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
  const offset = (ms: number) => {
    const name = format.formatToParts(ms).find((p) => p.type === 'timeZoneName')!.value;
    const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
    return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  };
  const segments: ZoneSegment[] = [{ from: Number.MIN_SAFE_INTEGER, offsetMinutes: offset(from) }];
  for (let t = from; t < to; t += 3_600_000) {
    const next = Math.min(t + 3_600_000, to);
    const after = offset(next);
    if (after === segments[segments.length - 1]!.offsetMinutes) continue;
    let [lo, hi] = [t, next];
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offset(mid) === after) hi = mid;
      else lo = mid;
    }
    if (hi < to) segments.push({ from: hi, offsetMinutes: after });
  }
  return segments;
}

describe('time zones', () => {
  it.each([
    ['Europe/Paris', 2020, 2024],
    ['America/Sao_Paulo', 1999, 2002],
    ['Asia/Gaza', 2040, 2042],
    ['Australia/Lord_Howe', 2025, 2027],
    ['Pacific/Apia', 2011, 2013],
    ['Asia/Kolkata', 2000, 2002],
  ])('finds every offset change of %s from %i to %i, as Intl asked hour by hour does', (zone, first, last) => {
    const from = utcMs(first, 0, 1) + 12_345;
    const to = utcMs(last, 6, 1);
    expect(zoneSegments(zone, from, to)).toEqual(bruteForce(zone, from, to));
  });

  it('works out a century of a zone in chunks of a few ms, and looks offsets up from the cache after', async () => {
    const zone = 'America/New_York';
    const from = utcMs(2000, 0, 1);
    const to = utcMs(2101, 0, 1);
    let [longest, turns] = [0, 0];
    let last = performance.now();
    const tick = setInterval(() => {
      longest = Math.max(longest, performance.now() - last);
      last = performance.now();
      turns++;
    }, 1);
    await prepareZone(zone, from, to);
    clearInterval(tick);
    // The event loop ran between the years; a year takes a few ms (generous for a loaded 2-core machine).
    expect(turns).toBeGreaterThan(50);
    expect(longest).toBeLessThan(1000);
    const started = performance.now();
    const segments = zoneSegments(zone, from, to);
    for (let t = from; t < from + 10_000 * 3_600_000; t += 3_600_000) offsetMinutes(zone, t);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(segments.length).toBeGreaterThan(150);
    expect(offsetMinutes(zone, utcMs(2050, 6, 1))).toBe(-240);
  });

  it('reads years below 100 as themselves', () => {
    expect(new Date(utcMs(50, 5, 1)).toISOString()).toBe('0050-06-01T00:00:00.000Z');
    expect(localToUtc('UTC', 2026, 10, 1)).toBe(Date.UTC(2026, 10, 1));
  });
});
