import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatchWriter } from '../../collector/writer.js';
import { openStore, readOnly, records, tempDir } from '../support/store-files.js';

async function writer(writeThreads = true): Promise<{ writer: BatchWriter; count(): number }> {
  const file = join(tempDir(), 'usage.db');
  const store = await openStore(file, writeThreads);
  const reader = readOnly(file);
  return {
    writer: new BatchWriter(store, { maxQueuedEvents: 10_000, maxQueuedBytes: 64 * 1024 * 1024, maxBatchEvents: 1_000, retryForMs: 0 }),
    count: () => reader.prepare('SELECT COUNT(*) FROM usage_events').pluck().get() as number,
  };
}

describe("the writer's batches in parts", () => {
  it('are taken only by an idle writer on the insert thread, within the queue limits', async () => {
    const { writer: idle } = await writer();
    const pending = idle.submit(records('a', 10));
    expect(idle.submitInParts(500, 1_000)).toBeUndefined();
    await pending;
    expect(idle.submitInParts(10_001, 1_000)).toBeUndefined();
    expect(idle.submitInParts(500, 65 * 1024 * 1024)).toBeUndefined();
    const parts = idle.submitInParts(500, 1_000)!;
    expect(parts).toBeDefined();
    // While it is open, a whole batch waits behind it, and no second batch in parts is taken.
    expect(idle.submitInParts(500, 1_000)).toBeUndefined();
    parts.add(records('b', 200));
    const behind = idle.submit(records('b', 2));
    expect(await parts.end(records('c', 100))).toHaveLength(300);
    expect(await behind).toEqual([false, false]);
    const { writer: calling } = await writer(false);
    expect(calling.submitInParts(500, 1_000)).toBeUndefined();
  });

  it('count what an open batch may hold against the queue until its commit, what it held after its last part', async () => {
    const { writer: w, count } = await writer();
    const parts = w.submitInParts(1_000, 1_000)!;
    expect(w.queuedEvents).toBe(1_000);
    parts.add(records('d', 150));
    const committed = parts.end(records('e', 50));
    expect(w.queuedEvents).toBe(200);
    await committed;
    expect(w.queuedEvents).toBe(0);
    expect(count()).toBe(200);
    const abandoned = w.submitInParts(1_000, 1_000)!;
    abandoned.add(records('f', 300));
    abandoned.abort();
    await w.drain();
    expect(w.queuedEvents).toBe(0);
    expect(count()).toBe(200);
  });

  it('are waited for by a drain begun while they are open', async () => {
    const { writer: w, count } = await writer();
    const parts = w.submitInParts(400, 1_000)!;
    parts.add(records('g', 200));
    let drained = false;
    const drain = w.drain().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(drained).toBe(false);
    await parts.end(records('h', 200));
    await drain;
    expect(count()).toBe(400);
  });
});
