import { describe, expect, it } from 'vitest';
import { logsBodies } from '../../bench/agent-logs.js';
import { REQUEST_ID_EPOCH, REQUEST_ID_PREFIX, writeIsoTime, writeNanos, writeRequestId } from '../../bench/logs-stamp.js';
import { otlpTypes } from '../../collector/otlp/decode.js';

/** The logs load's stamping, written without BigInt, Date or strings a value, against what those give. */

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const LIMIT = Math.floor(58 ** 20 / 2 ** 80);
const random = (below: number) => Math.floor(Math.random() * below);

/** The request_id's 20 digits in BigInt: (ms since the epoch) · 2^80 + low · 2^32 + stamp, in base 58. */
function referenceId(ms: number, low: number, stamp: number): string {
  let n = (BigInt(ms - REQUEST_ID_EPOCH) << 80n) | (BigInt(low) << 32n) | BigInt(stamp);
  let digits = '';
  for (let i = 0; i < 20; i++, n /= 58n) digits = BASE58[Number(n % 58n)]! + digits;
  return digits;
}

const decodeId = (id: string) => [...id.slice(REQUEST_ID_PREFIX.length)].reduce((n, c) => n * 58n + BigInt(BASE58.indexOf(c)), 0n);

describe("the logs load's stamping", () => {
  it('writes the request_id, the fixed64 nanoseconds and the ISO time that BigInt and Date give, at the ends of their ranges too', () => {
    const into = Buffer.alloc(64);
    const now = Date.now();
    const cases: [number, number, number][] = [
      [REQUEST_ID_EPOCH, 0, 0], [REQUEST_ID_EPOCH + LIMIT - 1, 2 ** 48 - 1, 2 ** 32 - 1], [now, 2 ** 48 - 1, 0], [now, 255, 2 ** 32 - 1],
      ...Array.from({ length: 20_000 }, (): [number, number, number] => [REQUEST_ID_EPOCH + random(LIMIT), random(2 ** 48), random(2 ** 32)]),
    ];
    for (const [ms, low, stamp] of cases) {
      writeRequestId(ms, low, stamp, into, 3);
      expect(into.toString('latin1', 3, 23)).toBe(referenceId(ms, low, stamp));
      const subMs = stamp % 1_000_000;
      writeNanos(ms, subMs, into, 30);
      expect(into.readBigUInt64LE(30)).toBe(BigInt(ms) * 1_000_000n + BigInt(subMs));
    }
    expect(() => writeRequestId(REQUEST_ID_EPOCH + LIMIT, 0, 0, into, 0)).toThrow(/hold times/);
    // Minutes, seconds and days turning, then times all over the last years.
    const turns = [Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), Date.UTC(2028, 1, 29, 12, 0, 59, 1), now - (now % 60_000)];
    for (const ms of [...turns.flatMap((t) => [t - 1, t, t + 1]), ...Array.from({ length: 20_000 }, () => now - random(1e11))]) {
      writeIsoTime(ms, into, 40);
      expect(into.toString('latin1', 40, 64)).toBe(new Date(ms).toISOString());
    }
  });

  it("makes every record a new call in each body, in a slot's bytes or in new ones", () => {
    const bodies = logsBodies(10);
    const before = Date.now();
    const inSlot = bodies(0, 0);
    const again = bodies(1, 0);
    const fresh = bodies(2);
    expect(again.buffer).toBe(inSlot.buffer);
    expect(fresh.buffer).not.toBe(inSlot.buffer);
    const ids = new Set<string>();
    // The nanoseconds below the ms are each body's stamp: the bench's calls fall on whole seconds.
    const subMs = new Set<bigint>();
    for (const body of [again, fresh]) {
      const request = otlpTypes.logs.request.toObject(otlpTypes.logs.request.decode(body), { longs: String });
      const records = request.resourceLogs.flatMap((r: { scopeLogs: { logRecords: object[] }[] }) => r.scopeLogs.flatMap((s) => s.logRecords)) as {
        timeUnixNano?: string; observedTimeUnixNano: string; attributes: { key: string; value: { stringValue?: string } }[];
      }[];
      expect(records).toHaveLength(10);
      for (const record of records) {
        const text = (key: string) => record.attributes.find((a) => a.key === key)?.value.stringValue;
        const nanos = BigInt(record.observedTimeUnixNano);
        const ms = Number(nanos / 1_000_000n);
        subMs.add(nanos % 1_000_000n);
        expect(ms).toBeGreaterThan(before - 5_000);
        expect(ms).toBeLessThanOrEqual(Date.now());
        expect(text('event.timestamp')).toBe(new Date(ms).toISOString());
        const requestId = text('request_id');
        if (requestId === undefined) continue;
        expect(record.timeUnixNano).toBe(record.observedTimeUnixNano);
        // The id leads with the call's time, and its lowest 32 bits are the body's stamp, as are the nanoseconds below the ms.
        const id = decodeId(requestId);
        expect(Number(id >> 80n)).toBe(ms - REQUEST_ID_EPOCH);
        expect((id & 0xffffffffn) % 1_000_000n).toBe(nanos % 1_000_000n);
        ids.add(requestId);
      }
    }
    expect(ids.size).toBe(10);
    expect(subMs.size).toBe(2);
  });
});
