import type { Principal } from '../src/auth/keys.js';
import type { UsageRecord, ValidUsageEvent } from '../src/event/schema.js';
import { normalise } from '../src/event/normalise.js';
import { MAX_LISTED_ERRORS, type EventError, type ValidationOutcome } from '../src/event/validate.js';
import type { Pricer } from '../src/pricing/pricer.js';
import type { BatchExtras } from '../src/store/types.js';
import { telemetry } from '../src/telemetry.js';
import type { BatchWriter } from './writer.js';

/** The valid events normalised and priced, and what the answer says about the rest. */
export interface Prepared {
  records: UsageRecord[];
  /** Set when the records went to the writer in parts as they were prepared (BatchWriter.submitInParts), `records` then empty: their commit. */
  committed?: Promise<boolean[]>;
  rejected: number;
  errors: EventError[];
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  errors: EventError[];
}

/**
 * A key scoped to projects writes only to them: an event naming no project gets the key's first
 * one, an event naming another is rejected on its own.
 */
export function applyProjectScope(outcome: ValidationOutcome, principal: Principal, pathPrefix: string): ValidationOutcome {
  if (principal.projects === null) return outcome;
  const result: ValidationOutcome = { valid: [], errors: [...outcome.errors] };
  for (const item of outcome.valid) {
    const event = scopeEvent(item.event, item.index, principal, pathPrefix, result.errors);
    if (event) result.valid.push(event === item.event ? item : { ...item, event });
  }
  result.errors.sort((a, b) => a.index - b.index);
  return result;
}

/** `applyProjectScope` for one valid event at `index`: the event to store, or undefined with its refusal added to `errors`. */
export function scopeEvent(event: ValidUsageEvent, index: number, principal: Principal, pathPrefix: string, errors: EventError[]): ValidUsageEvent | undefined {
  const scope = principal.projects;
  if (scope === null) return event;
  const project = event.project;
  if (project === undefined) return { ...event, project: scope[0] };
  if (scope.includes(project)) return event;
  errors.push({ index, path: `${pathPrefix}[${index}].project`, message: `this key may not write to project "${project}"` });
  return undefined;
}

/**
 * Normalises and prices the valid events. The routes call it from synchronous helpers, so that a
 * request waiting for its commit holds none of it: the body, the parsed JSON, the validated events
 * and (see `commit`) the records are garbage by then. Held across the wait, they would grow old
 * enough to reach V8's old generation, which then swells under load (docs/benchmarks.md).
 */
export function prepare(outcome: ValidationOutcome, total: number, pricer: Pricer): Prepared {
  const receivedAt = Date.now();
  const records = outcome.valid.map(({ event }) => priced(event, receivedAt, pricer));
  // The project scope's refusals join validation's, which stopped listing at the same bound.
  return { records, rejected: total - records.length, errors: outcome.errors.slice(0, MAX_LISTED_ERRORS) };
}

/** A valid event as the record to store: normalised and priced. */
export function priced(event: ValidUsageEvent, receivedAt: number, pricer: Pricer): UsageRecord {
  const record = normalise(event, receivedAt);
  pricer.price(record);
  return record;
}

/**
 * The shared back half of every ingestion route: hands the records to the writer; resolves once
 * they are durable. Not async, and the routes call it in a `.then` of their prepared batch, never
 * after awaiting the batch into a variable (an async function keeps its variables through each
 * await): only the answer's counts and errors wait for the commit, never the records (see
 * BatchWriter.startCommit).
 */
export function commit({ records, rejected, errors }: Prepared, writer: BatchWriter, extras?: BatchExtras): Promise<IngestResult> {
  return counted(writer.submit(records, extras), { rejected, errors });
}

/** The answer once a batch's commit is done: what it stored, and what was refused before. */
export function counted(committed: Promise<boolean[]>, { rejected, errors }: Pick<Prepared, 'rejected' | 'errors'>): Promise<IngestResult> {
  return committed.then((inserted) => {
    const accepted = inserted.filter(Boolean).length;
    const duplicates = inserted.length - accepted;
    telemetry.recordEvents('accepted', accepted);
    telemetry.recordEvents('duplicate', duplicates);
    telemetry.recordEvents('rejected', rejected);
    return { accepted, duplicates, rejected, errors };
  });
}
