import { describe, expect, it } from 'vitest';
import { logRecordsToEvents, wireLogEventSteps } from '../../collector/otlp/log-records.js';
import { ExportLogsRequest } from '../../collector/otlp/logs-request.js';
import type { MappedEvent } from '../../collector/otlp/mapping.js';
import { ReusedAttributes } from '../../collector/otlp/reused-attributes.js';
import { runNow } from '../../collector/otlp/steps.js';
import { encodeProtobuf, otlpLogsRequest, type LogSpec } from '../support/otlp.js';

/**
 * The wire logs path reads record after record into one Map (reused-attributes.ts): each record
 * must still see exactly its own attributes, in the order a new Map would hold them (the tags kept
 * on an event follow that order, and past the count the later ones are left out).
 */

/** The entries a new Map filled by `sets` holds, and what `ReusedAttributes` gives for them after `before`. */
function both(before: readonly (readonly [string, string])[][], sets: readonly (readonly [string, string])[]) {
  const reused = new ReusedAttributes();
  for (const record of before) {
    reused.start();
    for (const [key, value] of record) reused.set(key, value);
    reused.finish();
  }
  reused.start();
  for (const [key, value] of sets) reused.set(key, value);
  return { reused: [...reused.finish()], fresh: [...new Map(sets)] };
}

const kv = (keys: string, value: string) => keys.split('').map((key) => [key, `${key}${value}`] as const);

describe('attributes read into one Map, record after record', () => {
  it.each([
    ['the same keys in the same order', [kv('abcd', '1')], kv('abcd', '2')],
    ['fewer keys, a prefix of the last', [kv('abcd', '1')], kv('ab', '2')],
    ['more keys than the last', [kv('ab', '1')], kv('abcd', '2')],
    ['the same keys in another order', [kv('abcd', '1')], kv('dcba', '2')],
    ['a key sent twice', [kv('abcd', '1')], [...kv('abc', '2'), ['b', 'b3'] as const, ['d', 'd2'] as const]],
    ['a key sent twice after the last record was matched', [kv('ab', '1')], [...kv('ab', '2'), ['a', 'a3'] as const]],
    ['none', [kv('abcd', '1')], []],
    ['after a record that left the order', [kv('abcd', '1'), kv('badc', '1'), kv('b', '1')], kv('abdc', '2')],
  ])('%s: as a new Map would hold them', (_, before, sets) => {
    const { reused, fresh } = both(before, sets);
    expect(reused).toEqual(fresh);
  });

  it('after a record that left the order and was never finished, the next holds only its own keys', () => {
    const reused = new ReusedAttributes();
    reused.start();
    for (const [key, value] of kv('ab', '1')) reused.set(key, value);
    reused.finish();
    reused.start();
    for (const [key, value] of kv('xa', '2')) reused.set(key, value);
    reused.start();
    for (const [key, value] of kv('ab', '3')) reused.set(key, value);
    expect([...reused.finish()]).toEqual([...new Map(kv('ab', '3'))]);
  });

  it('holds what a new Map holds over many random records', () => {
    let seed = 7;
    const random = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
    const reused = new ReusedAttributes();
    for (let record = 0; record < 2000; record++) {
      const sets = Array.from({ length: random(8) }, () => ['abcdef'[random(6)]!, String(random(100))] as const);
      reused.start();
      for (const [key, value] of sets) reused.set(key, value);
      expect([...reused.finish()]).toEqual([...new Map(sets)]);
    }
  });

  it('gives each record of a protobuf export its own attributes and tags, as OTLP/JSON does', () => {
    const call = (attributes: LogSpec['attributes']): LogSpec => ({
      attributes: { 'event.name': 'codex.sse_event', 'event.kind': 'response.completed', 'model': 'gpt-5.1-codex', 'input_token_count': 10, ...attributes },
    });
    const request = otlpLogsRequest([
      call({ 'tokentally.tag.team': 'a', 'tokentally.tag.env': 'prod', 'output_token_count': 1 }),
      call({ 'tokentally.tag.env': 'dev', 'tokentally.tag.team': 'b' }),
      call({ 'tokentally.tag.team': 'c' }),
      call({ 'tokentally.tag.team': 'd', 'tokentally.tag.env': 'prod', 'tokentally.tag.region': 'eu' }),
      { attributes: { 'event.name': 'codex.sse_event', 'model': 'gpt-5.1-codex', 'input_token_count': 10 } },
      call({ 'tokentally.tag.team': 'e', 'tokentally.tag.env': 'prod', 'output_token_count': 2 }),
    ], { resource: { 'service.name': 'codex_exec' }, scope: { name: 'codex_otel.log_only' } });
    // A key sent twice keeps its first place and its last value.
    const records = request.resourceLogs[0]!.scopeLogs[0]!.logRecords;
    records[5]!.attributes.push({ key: 'tokentally.tag.team', value: { stringValue: 'f' } });
    const fromWire: MappedEvent[] = [];
    runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', request)), (event) => fromWire.push(event)));
    const fromJson = logRecordsToEvents(ExportLogsRequest.parse(request));
    expect(fromWire.map((e) => e.input)).toEqual(fromJson.map((e) => e.input));
    expect(fromWire.map((e) => Object.keys(e.input.attributes as object))).toEqual(fromJson.map((e) => Object.keys(e.input.attributes as object)));
    expect(fromWire.map((e) => (e.input.attributes as Record<string, unknown>).team)).toEqual(['a', 'b', 'c', 'd', 'f']);
    expect(fromWire.map((e) => e.input.output_tokens)).toEqual([1, undefined, undefined, undefined, 2]);
  });
});
