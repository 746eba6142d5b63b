import { describe, expect, it } from 'vitest';
import { fastValidate } from '../../src/event/fast-validate.js';
import { UsageEventInput } from '../../src/event/schema.js';
import { issuesToErrors, MAX_LISTED_ERRORS, validateEvents } from '../../src/event/validate.js';
import { randomEvent, rng } from '../support/random.js';

/** Values that are wrong, or right but unusual, for some field of the schema. */
const ODD: unknown[] = [
  null, '', ' ', ' padded ', 'x'.repeat(129), 'x'.repeat(257), 'x'.repeat(1025), -1, -0, 1.5, 2 ** 53, 1e9, 1e10, NaN,
  Infinity, '12', true, [], {}, [1], { a: 1 }, { '': 'x' }, { k: null }, { k: 'x'.repeat(1025) },
  Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])), '2026-11-24T10:00:00Z', '2026-11-24',
  946684799999, 4102444800000, 'ok', 'error', 'OK', 'a\u0000b', 'a\ud800b', { k: 'a\u0000' }, { 'a\ud800': 'x' }, { k: '' },
];
const FIELDS = [
  'id', 'timestamp', 'project', 'agent_id', 'model', 'provider', 'operation', 'task_label', 'run_id', 'step_id',
  'session_id', 'user_id', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens',
  'reasoning_tokens', 'cost_usd', 'duration_ms', 'status', 'attributes', 'unknown_field',
];

function cases(seed: number, count: number): unknown[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => {
    const event: Record<string, unknown> = randomEvent(r, 1000);
    if (r.next() < 0.3) event.attributes = { region: 'eu', retries: r.int(0, 3), cached: r.next() < 0.5 };
    if (r.next() < 0.2) event.duration_ms = r.int(0, 60_000);
    const changes = r.int(0, 2);
    for (let i = 0; i < changes; i++) {
      const field = r.pick(FIELDS);
      if (r.next() < 0.15) delete event[field];
      else event[field] = r.pick(ODD);
    }
    return r.next() < 0.02 ? r.pick([null, [], 'event', 42]) : event;
  });
}

describe('fastValidate', () => {
  it('accepts only what the schema accepts, and returns exactly what the schema returns', () => {
    let fast = 0;
    for (const input of cases(7, 5000)) {
      const quick = fastValidate(input);
      if (quick === undefined) continue;
      fast++;
      const parsed = UsageEventInput.safeParse(input);
      expect(parsed.success, JSON.stringify(input)).toBe(true);
      expect(quick).toStrictEqual(parsed.data);
    }
    // Most generated events are plainly valid, so the fast path must have taken them.
    expect(fast).toBeGreaterThan(1500);
  });

  it('leaves keys named __proto__ (own keys when parsed from JSON) and present but undefined fields to the schema', () => {
    for (const text of ['{"agent_id":"a","model":"m","__proto__":{}}', '{"agent_id":"a","model":"m","attributes":{"__proto__":"x"}}']) {
      expect(fastValidate(JSON.parse(text)), text).toBeUndefined();
    }
    expect(fastValidate({ agent_id: 'a', model: 'm', project: undefined })).toBeUndefined();
    expect(fastValidate({ agent_id: 'a', model: 'm', attributes: { region: 'eu' } })).toStrictEqual(UsageEventInput.parse({ agent_id: 'a', model: 'm', attributes: { region: 'eu' } }));
  });

  it('takes the common valid event', () => {
    const r = rng(3);
    for (let i = 0; i < 200; i++) expect(fastValidate(randomEvent(r, 1000))).toBeDefined();
  });

  it('leaves every bad event to the schema, so a batch gets the same errors as from zod alone', () => {
    const events = cases(11, 2000);
    const outcome = validateEvents(events);
    const zodErrors = (raw: unknown, index: number) => {
      const parsed = UsageEventInput.safeParse(raw);
      return parsed.success ? [] : issuesToErrors(index, parsed.error.issues, `events[${index}]`);
    };
    const expected = events.flatMap(zodErrors);
    expect(expected.length).toBeGreaterThan(MAX_LISTED_ERRORS);
    // A batch lists its first MAX_LISTED_ERRORS problems; each event alone shows all of its own.
    expect(outcome.errors).toStrictEqual(expected.slice(0, MAX_LISTED_ERRORS));
    for (const raw of events) expect(validateEvents([raw]).errors).toStrictEqual(zodErrors(raw, 0));
    expect(outcome.valid.map((v) => v.event)).toStrictEqual(
      events.flatMap((raw) => {
        const parsed = UsageEventInput.safeParse(raw);
        return parsed.success ? [parsed.data] : [];
      }),
    );
  });
});
