/**
 * A time zone's offsets as report queries use them. Apart from zone.ts, whose validation brings zod,
 * so that the SQLite store's threads, which build those queries, start without loading it (about
 * 150 ms of a read thread's start; docs/benchmarks.md, "Rollup report latency, session 19").
 */

export interface ZoneSegment {
  /** The segment applies from this instant (epoch ms) on, until the next segment's start. */
  from: number;
  offsetMinutes: number;
}

export function formatOffset(minutes: number): string {
  if (minutes === 0) return 'Z';
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
