import type { Principal } from '../src/auth/keys.js';
import type { UsageRecord } from '../src/event/schema.js';
import { normalise } from '../src/event/normalise.js';
import type { EventError, ValidationOutcome } from '../src/event/validate.js';
import type { Pricer } from '../src/pricing/pricer.js';
import { telemetry } from '../src/telemetry.js';
import type { BatchWriter } from './writer.js';

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  errors: EventError[];
  records: UsageRecord[];
}

/**
 * A key scoped to projects writes only to them: an event naming no project gets the key's first
 * one, an event naming another is rejected on its own.
 */
export function applyProjectScope(outcome: ValidationOutcome, principal: Principal, pathPrefix: string): ValidationOutcome {
  const scope = principal.projects;
  if (scope === null) return outcome;
  const result: ValidationOutcome = { valid: [], errors: [...outcome.errors] };
  for (const item of outcome.valid) {
    const project = item.event.project;
    if (project === undefined) result.valid.push({ ...item, event: { ...item.event, project: scope[0] } });
    else if (scope.includes(project)) result.valid.push(item);
    else result.errors.push({ index: item.index, path: `${pathPrefix}[${item.index}].project`, message: `this key may not write to project "${project}"` });
  }
  result.errors.sort((a, b) => a.index - b.index);
  return result;
}

/**
 * The shared back half of every ingestion route: normalise and price the valid events, hand them
 * to the writer and wait for the commit. Resolves only once they are durable.
 */
export async function ingest(
  outcome: ValidationOutcome,
  total: number,
  deps: { pricer: Pricer; writer: BatchWriter },
): Promise<IngestResult> {
  const receivedAt = Date.now();
  const records = outcome.valid.map(({ event }) => {
    const record = normalise(event, receivedAt);
    deps.pricer.price(record);
    return record;
  });
  const inserted = await deps.writer.submit(records);
  const accepted = inserted.filter(Boolean).length;
  const duplicates = inserted.length - accepted;
  const rejected = total - records.length;
  telemetry.recordEvents('accepted', accepted);
  telemetry.recordEvents('duplicate', duplicates);
  telemetry.recordEvents('rejected', rejected);
  return { accepted, duplicates, rejected, errors: outcome.errors, records };
}
