/** RFC 3339 in UTC, without the milliseconds when they are zero: 2026-11-01T00:00:00Z. */
export function isoUtc(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
