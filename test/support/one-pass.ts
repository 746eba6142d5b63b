import { expect } from 'vitest';
import { countLimits, type RequestLimits } from '../../collector/decode-limits.js';
import type { OtlpLimits } from '../../collector/otlp/decode.js';
import { AGENT_FIXTURES, loadAgentFixture } from './agent-fixtures.js';
import { encodeProtobuf } from './otlp.js';
import { rng } from './random.js';

/**
 * What the tests of the one-pass reads (logs-one-pass.test.ts, spans-one-pass.test.ts) share: the
 * one pass against the two-pass read it stands in for, over bodies made at random and damaged.
 */

export const limitsOf = (limits: RequestLimits): OtlpLimits => {
  const { values, records } = countLimits(limits);
  return { values, records };
};
export const WIDE = limitsOf({ maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 });

/** The captured agents' exports of one signal as protobuf bodies, each with a label naming it. */
export function capturedBodies(signal: 'logs' | 'traces'): { label: string; body: Buffer }[] {
  const bodies = AGENT_FIXTURES.flatMap((file) =>
    loadAgentFixture(file).requests.filter((request) => request.signal === signal).map(({ seq, body }) => ({ label: `${file} #${seq}`, body: Buffer.from(encodeProtobuf(signal, body)) })),
  );
  expect(bodies.length).toBeGreaterThan(0);
  return bodies;
}

type Random = ReturnType<typeof rng>;

/** The body with one byte changed, a few bytes cut from its end, or a byte inserted. */
export function damaged(r: Random, body: Buffer): Buffer {
  const at = r.int(0, body.length - 1);
  const kind = r.int(0, 2);
  if (kind === 0) {
    const copy = Buffer.from(body);
    copy[at] = r.pick([0x00, 0x01, 0x7f, 0x80, 0xc3, 0xe9, 0xff, copy[at]! ^ 0x08, copy[at]! + 1]) & 0xff;
    return copy;
  }
  if (kind === 1) return body.subarray(0, at);
  return Buffer.concat([body.subarray(0, at), Buffer.from([r.pick([0x80, 0xff, 0x0a, 0x12, 0x00])]), body.subarray(at)]);
}

/** A length-delimited field (number below 16), written by hand for bodies the schema's encoder would not make. */
export function field(number: number, payload: Buffer): Buffer {
  const length: number[] = [];
  for (let n = payload.length; n >= 0x80; n >>>= 7) length.push((n & 0x7f) | 0x80);
  length.push(payload.length >>> (7 * length.length));
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...length]), payload]);
}

/**
 * 3,000 bodies of `make`, each also damaged three ways, a quarter of them under small limits (at most
 * `values` values, `records` records): `sound` reads each in one pass and, when it reads it through,
 * checks it against the two-pass read, which must otherwise refuse it (`refused`).
 */
export function expectSoundOverRandomBodies(
  seed: number, make: (r: Random) => Buffer, small: { values: number; records: number },
  sound: (body: Buffer, limits: OtlpLimits, label: string) => boolean, refused: (body: Buffer, limits: OtlpLimits) => boolean,
): void {
  const r = rng(seed);
  let through = 0, refusals = 0, bodies = 0;
  for (let i = 0; i < 3000; i++) {
    const body = make(r);
    const limits = r.int(0, 3) === 0
      ? limitsOf({ maxValuesPerRequest: r.int(1, small.values), maxRecordsPerRequest: r.int(1, small.records), maxEventsPerRequest: 10 })
      : WIDE;
    for (const variant of [body, damaged(r, body), damaged(r, body), damaged(r, damaged(r, body))]) {
      const label = `body #${i} of seed ${seed} (${variant === body ? 'as made' : 'damaged'})`;
      if (sound(variant, limits, label)) through++;
      else if (refused(variant, limits)) refusals++;
      bodies++;
    }
  }
  // Both ways are exercised, and no body the two-pass read accepts was left to it.
  expect(through).toBeGreaterThan(bodies / 20);
  expect(refusals).toBeGreaterThan(bodies / 2);
  expect(through + refusals).toBe(bodies);
}
