import type { UsageRecord } from '../../src/event/schema.js';

/** A stored-form record with every field filled, for tests that write to a store directly. */
export const usageRecord = (id: string, over: Partial<UsageRecord> = {}): UsageRecord => ({
  id, ts: Date.UTC(2026, 10, 3, 12), project: 'p', agent_id: 'a', model: 'm', provider: '', operation: '', task_label: '',
  run_id: '', step_id: '', session_id: '', user_id: '', input_tokens: 10, output_tokens: 1, cache_read_tokens: 0,
  cache_write_tokens: 0, reasoning_tokens: 0, cost_nanos: 0, cost_source: 'unpriced', duration_ms: null, status: 'ok',
  attributes: null, received_at: 0, ...over,
});
