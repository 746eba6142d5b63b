import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { localToUtc, offsetMinutes, prepareZone, utcMs, ZoneName, zoneSegments } from '../../src/zone.js';
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

  it('takes a zone name in any letter case, answered in Intl\'s where only that differs; a link keeps its name', () => {
    expect(['europe/paris', 'EUROPE/PARIS', 'utc', 'Asia/Kolkata', 'Nope/Nowhere'].map((z) => ZoneName.safeParse(z).data ?? null))
      .toEqual(['Europe/Paris', 'Europe/Paris', 'UTC', 'Asia/Kolkata', null]);
  });

  it('keeps memory flat however many spellings of one zone it is asked', () => {
    // A formatter made per spelling held about 30 KB each: 5,000 spellings took ~150 MB.
    const script = `
      const { ZoneName } = await import(${JSON.stringify(pathToFileURL(join(PACKAGE_ROOT, 'dist/src/zone.js')).href)});
      const base = 'America/Argentina/ComodRivadavia';
      const spelling = (i) => [...base].map((ch, k) => ((i >> (k % 20)) & 1 ? ch.toUpperCase() : ch.toLowerCase())).join('');
      const settle = async () => { for (let k = 0; k < 3; k++) { gc(); await new Promise((r) => setTimeout(r, 20)); } };
      ZoneName.parse(base);
      await settle();
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 5000; i++) ZoneName.parse(spelling(i));
      await settle();
      console.log(process.memoryUsage().rss - before);`;
    const grown = Number(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script]).toString());
    expect(grown).toBeLessThan(50e6);
  });

  it('reads years below 100 as themselves', () => {
    expect(new Date(utcMs(50, 5, 1)).toISOString()).toBe('0050-06-01T00:00:00.000Z');
    expect(localToUtc('UTC', 2026, 10, 1)).toBe(Date.UTC(2026, 10, 1));
  });
});
