import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatchWriter } from '../../collector/writer.js';
import { normalise } from '../../src/event/normalise.js';
import type { UsageRecord } from '../../src/event/schema.js';
import { UsageEventInput } from '../../src/event/schema.js';
import { SqliteStore } from '../../src/store/sqlite.js';

/** The estimate as the queue's refusal states it: 400 bytes a record and 2 a character of each string value. */
const estimate = (records: readonly UsageRecord[]) =>
  records.reduce((sum, r) => sum + 400 + Object.values(r).reduce<number>((s, v) => s + (typeof v === 'string' ? 2 * v.length : 0), 0), 0);

describe("the writer's estimate of the bytes waiting", () => {
  it('counts every string of a record, attributes and defaults included, as the 429 says', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokentally-bytes-'));
    const store = new SqliteStore(join(dir, 'usage.db'));
    await store.migrate();
    const writer = new BatchWriter(store, { maxQueuedEvents: 1_000, maxQueuedBytes: 1, maxBatchEvents: 1_000, retryForMs: 0 });
    const records = [
      { id: 'a', agent_id: 'planner', model: 'gpt-4o', input_tokens: 5 },
      { id: 'b-é', agent_id: 'coder', model: 'claude-sonnet-4-5', project: 'atlas', provider: 'anthropic', operation: 'chat', task_label: 't',
        run_id: 'r', step_id: 's', session_id: 'x', user_id: 'u', status: 'error', cost_usd: 0.5, attributes: { region: 'eu-west-1', n: 3, ok: true } },
      { agent_id: 'reviewer', model: 'm', attributes: {} },
    ].map((event) => normalise(UsageEventInput.parse(event), 0));
    // The first request waits for its commit while the second asks in.
    const first = writer.submit(records);
    const refused = await writer.submit(records).catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 429, message: `the write queue is full (3 events, ${estimate(records)} bytes waiting); retry shortly` });
    expect(await first).toEqual([true, true, true]);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
