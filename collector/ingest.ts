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
 * The shared back half of every ingestion route: normalise and price the valid events, hand them
 * to the writer and wait for the commit. Resolves only once they are durable.
 */
export async function ingest(
  outcome: ValidationOutcome,
  rejected: number,
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
  telemetry.recordEvents('accepted', accepted);
  telemetry.recordEvents('duplicate', duplicates);
  telemetry.recordEvents('rejected', rejected);
  return { accepted, duplicates, rejected, errors: outcome.errors, records };
}
