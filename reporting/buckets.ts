import { badRequest } from '../src/http/errors.js';
import type { TimeBucket } from '../src/store/types.js';
import { localToUtc, offsetMinutes, utcToLocal } from '../src/zone.js';
import { formatOffset } from '../src/zone-offset.js';

const DAY_MS = 86_400_000;
const MAX_BUCKETS = 10_000;
/**
 * Points in one time series answer (series, with "(other)", times buckets; for Grafana the
 * points of all its targets): about 100 MB of JSON and as many rows read from the store. Each point
 * is a row held in memory until written, so without this 1,001 series of 10,000 buckets would make
 * ten million of them.
 */
export const MAX_POINTS = 400_000;

const pad = (n: number) => String(n).padStart(2, '0');
const dateKey = (utcDate: Date) => utcDate.toISOString().slice(0, 10);

/**
 * Every bucket key of the interval that overlaps [from, to) in the zone, in order, spelt exactly as
 * the store spells them, so a time series can be zero-filled.
 */
export function enumerateBuckets(interval: TimeBucket, from: number, to: number, zone: string): string[] {
  const start = utcToLocal(zone, from);
  const keys: string[] = [];
  const push = (key: string) => {
    if (keys.length >= MAX_BUCKETS) throw badRequest(`interval: more than ${MAX_BUCKETS} ${interval} buckets between from and to; choose a longer interval or a shorter range`);
    keys.push(key);
  };
  if (interval === 'hour') {
    for (let t = localToUtc(zone, start.year, start.month, start.day, start.hour); t < to; t += 3_600_000) {
      const wall = new Date(t + offsetMinutes(zone, t) * 60_000);
      push(`${dateKey(wall)}T${pad(wall.getUTCHours())}:00:00${formatOffset(offsetMinutes(zone, t))}`);
    }
    return keys;
  }
  if (interval === 'month') {
    for (let y = start.year, m = start.month; localToUtc(zone, y, m, 1) < to; m === 11 ? (y++, (m = 0)) : m++) {
      push(`${y}-${pad(m + 1)}`);
    }
    return keys;
  }
  // Days and weeks step through calendar dates, which DST does not stretch.
  let day = Date.UTC(start.year, start.month, start.day);
  if (interval === 'week') day -= ((new Date(day).getUTCDay() + 6) % 7) * DAY_MS;
  const step = interval === 'week' ? 7 * DAY_MS : DAY_MS;
  for (; ; day += step) {
    const d = new Date(day);
    if (localToUtc(zone, d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) >= to) break;
    push(dateKey(d));
  }
  return keys;
}
