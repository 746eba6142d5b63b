import { randomUUID } from 'node:crypto';
import { attributesJson } from './attributes-json.js';
import type { UsageRecord, ValidUsageEvent } from './schema.js';

export const DEFAULT_PROJECT = 'default';
const NANOS_PER_USD = 1e9;

export function usdToNanos(usd: number): number {
  return Math.round(usd * NANOS_PER_USD);
}

export function nanosToUsd(nanos: number): number {
  return nanos / NANOS_PER_USD;
}

/**
 * Applies the defaults of the canonical model. Cost is left as reported, or unpriced for the
 * pricing step to fill in; a missing id gets a fresh one (so a retry of that event counts twice).
 */
export function normalise(event: ValidUsageEvent, receivedAt: number): UsageRecord {
  const reported = event.cost_usd !== undefined;
  return {
    id: event.id ?? randomUUID(),
    ts: event.timestamp ?? receivedAt,
    project: event.project ?? DEFAULT_PROJECT,
    agent_id: event.agent_id,
    model: event.model,
    provider: event.provider ?? '',
    operation: event.operation ?? '',
    task_label: event.task_label ?? '',
    run_id: event.run_id ?? '',
    step_id: event.step_id ?? '',
    session_id: event.session_id ?? '',
    user_id: event.user_id ?? '',
    input_tokens: event.input_tokens,
    output_tokens: event.output_tokens,
    cache_read_tokens: event.cache_read_tokens,
    cache_write_tokens: event.cache_write_tokens,
    reasoning_tokens: event.reasoning_tokens,
    cost_nanos: reported ? usdToNanos(event.cost_usd!) : 0,
    cost_source: reported ? 'reported' : 'unpriced',
    duration_ms: event.duration_ms ?? null,
    status: event.status,
    attributes: event.attributes ? attributesJson(event.attributes) : null,
    received_at: receivedAt,
  };
}
