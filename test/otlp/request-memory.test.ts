import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import type { IngestDeps } from '../../collector/app.js';
import { countLimits } from '../../collector/decode-limits.js';
import { prepareExport } from '../../collector/otlp/receive.js';
import { OPEN_ACCESS } from '../../src/auth/keys.js';
import { createPricer, loadPriceTable } from '../../src/pricing/index.js';
import { mixedTraceBodies } from '../../bench/otlp.js';
import { encodeProtobuf, otlpLogsRequest, otlpRequest } from '../support/otlp.js';

/**
 * What a request leaves in memory once it is prepared: the readers' caches (recurring strings, the
 * last event name, the hashed openings, the last keys) stay within their bounds whatever strings
 * come, and a traces body is let go of as soon as its spans are read (docs/benchmarks.md, "Peak
 * memory, session 18").
 */

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as (options?: { type: 'minor' }) => void;

const limits = { maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 };
/** A writer of its own per request: the span memory (bounded, tested in aggregates.test.ts) is kept per writer. */
const depsOf = () => ({ counts: countLimits(limits), limits, pricer: createPricer(loadPriceTable({})), writer: {} }) as unknown as IngestDeps;

const heapAfterCollection = () => {
  collectGarbage();
  collectGarbage();
  return getHeapStatistics().used_heap_size;
};

/** Every string of request `n` its own: keys, values, event names, resources and scopes, short (cached when recurring) and long. */
function uniqueRequests(n: number): { logs: Buffer; traces: Buffer } {
  const own = (what: string, length: number) => `${what}-${n}-`.padEnd(length, String.fromCharCode(97 + (n % 26)));
  const attributes = (i: number) => ({
    [own(`k${i}`, 20)]: own(`v${i}`, 40), [own(`key${i}`, 90)]: own(`value${i}`, 300), 'gen_ai.request.model': own(`model${i}`, 30),
    'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5, 'gen_ai.operation.name': own(`op${i}`, 20),
  });
  const resource = { 'service.name': own('svc', 30), [own('res', 50)]: own('resv', 200) };
  const scope = { name: own('scope', 40), version: own('v', 10) };
  const records = Array.from({ length: 20 }, (_, i) => ({ eventName: own(`event${i}`, i % 2 ? 40 : 400), attributes: attributes(i) }));
  const spans = Array.from({ length: 20 }, (_, i) => ({
    traceId: (n * 20 + i + 1).toString(16).padStart(32, '0'), spanId: (i + 1).toString(16).padStart(16, '0'), name: own(`span${i}`, 30), attributes: attributes(i),
  }));
  return {
    logs: Buffer.from(encodeProtobuf('logs', otlpLogsRequest(records, { resource, scope }))),
    traces: Buffer.from(encodeProtobuf('traces', otlpRequest(spans, { resource, scope }))),
  };
}

it('keeps nothing of a stream of requests whose every string is new beyond the caches\' bounds', async () => {
  const round = async (from: number) => {
    for (let n = from; n < from + 100; n++) {
      const { logs, traces } = uniqueRequests(n);
      await prepareExport('logs', logs, 'protobuf', OPEN_ACCESS, depsOf());
      await prepareExport('traces', traces, 'protobuf', OPEN_ACCESS, depsOf());
    }
    return heapAfterCollection();
  };
  // The first rounds fill the caches and compile the code.
  for (const from of [0, 100]) await round(from);
  // Then 100 requests a round, each 4,000 new keys and values, 2,000 new event names, 100 new
  // resources and scopes. A cache without bound grows the heap every round (a Map that kept only
  // the new keys: about 320 KiB a round); V8 also takes one-off steps of up to 700 KiB, at any
  // round under a busy machine, so the typical round's growth is held to the bound, not the sum.
  const heaps = [];
  for (let from = 200; from <= 800; from += 100) heaps.push(await round(from));
  const growth = heaps.slice(1).map((heap, i) => heap - heaps[i]!).sort((a, b) => a - b);
  expect(growth[Math.floor(growth.length / 2)]).toBeLessThan(128 * 1024);
}, 120_000);

it('lets go of a traces body once its spans are read, so a young-generation collection frees it', async () => {
  const bodyOf = mixedTraceBodies(500);
  const deps = depsOf();
  const external = () => process.memoryUsage().arrayBuffers;
  const prepared = async (from: number, to: number) => {
    for (let n = from; n < to; n++) {
      await prepareExport('traces', bodyOf(n), 'protobuf', OPEN_ACCESS, deps);
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage({ type: 'minor' });
    }
    return external();
  };
  const before = await prepared(0, 20);
  // Each body is 143 KB: 40 bodies kept until a full collection would be 5.7 MB.
  const after = await prepared(20, 60);
  expect(after - before).toBeLessThan(1024 * 1024);
}, 120_000);
