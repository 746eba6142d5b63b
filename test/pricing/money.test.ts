import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { usdToNanos } from '../../src/event/normalise.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { rng } from '../support/random.js';

describe('money is summed exactly', () => {
  it('1,000,000 random costs: the rollup total equals the raw total and the exact sum', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokentally-money-'));
    // The sums are SQL's: inserting on this thread, in id order, spares the copy to a write thread and
    // the scattered index pages of a million ids, a third of the time.
    const store = new SqliteStore(join(dir, 'money.db'), { synchronous: 'NORMAL', writeThreads: false });
    await store.migrate();
    const r = rng(42);
    let exact = 0n;
    const batch: UsageRecord[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      // Costs from a fraction of a micro-dollar to tens of dollars, as clients report them.
      const usd = r.next() * 10 ** r.int(-7, 1);
      const cost = usdToNanos(usd);
      exact += BigInt(cost);
      batch.push({
        id: `m${String(i).padStart(7, '0')}`, ts: Date.UTC(2026, 10, 1 + (i % 30), i % 24), project: `p${i % 7}`, agent_id: `a${i % 13}`, model: `m${i % 5}`,
        provider: '', operation: '', task_label: `t${i % 3}`, run_id: '', step_id: '', session_id: '', user_id: '',
        input_tokens: i % 1000, output_tokens: i % 100, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0,
        cost_nanos: cost, cost_source: 'reported', duration_ms: null, status: 'ok', attributes: null, received_at: 0,
      });
      if (batch.length === 10_000) await store.insertBatch(batch.splice(0));
    }
    const range = { groupBy: [], filters: {}, from: Date.UTC(2026, 10, 1), to: Date.UTC(2026, 11, 1), order: null, limit: null };
    const rollup = await store.aggregate({ ...range, source: 'rollup' });
    const raw = await store.aggregate({ ...range, source: 'raw' });
    expect(rollup.totals.events).toBe(1_000_000);
    expect(rollup.totals.cost_nanos).toBe(raw.totals.cost_nanos);
    expect(BigInt(rollup.totals.cost_nanos)).toBe(exact);
    expect(Math.abs(rollup.totals.cost_nanos - raw.totals.cost_nanos) / raw.totals.cost_nanos).toBeLessThanOrEqual(1e-9);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }, 600_000);
});
