import { eachField, FIRST, issueError, SECOND, within, Wire, type Issue } from './protobuf-reader.js';
import { RECORDS_PER_STEP, type Steps } from './steps.js';

/**
 * The walk that the traces and logs requests share over the wire (protobuf-reader.ts reads the
 * values): each resource, then each scope's records, in the schema's order.
 */

/** An InstrumentationScope's name and version, merged over its encodings. */
function scope(r: Wire, end: number, into: { name: string; version: string }): void {
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === FIRST) into.name = r.recurring(r.end());
    else if (tag === SECOND) into.version = r.recurring(r.end());
    else r.skip(tag & 7);
  }
}

/** What the traces and logs requests share: request → resource_<x>s → { resource, scope_<x>s → { scope, <records> } }. */
export interface Layout<V, R> {
  /** The three repeated fields, as error paths name them: `resourceSpans`, `scopeSpans`, `spans`. */
  names: readonly [string, string, string];
  /** One KeyValue of the Resource into its attributes; its issue. */
  attribute(r: Wire, end: number, into: Map<string, V>): Issue | undefined;
  /** What the resource's records share, from its attributes. */
  resource(attributes: Map<string, V>): R;
  /** Reads one record at `path` and keeps it; its issue. */
  record(r: Wire, end: number, resource: R, scope: { name: string; version: string }, path: string): Issue | undefined;
}

/**
 * Reads every record of a request in order, pausing every few records; throws the 400 of the first
 * issue in the schema's order (a resource's before its scopes', a record's before the next one's).
 */
export function* readExport<V, R>(r: Wire, layout: Layout<V, R>): Steps<void> {
  const [outer, middle, inner] = layout.names;
  // The resources and scopes, read ahead of their records: the scan has walked them, whatever `r` checks.
  const ahead = r.another();
  let read = 0;
  for (let resourceIndex = 0; r.pos < r.buf.length; ) {
    const t = r.uint32();
    if (t !== FIRST) {
      r.skip(t & 7);
      continue;
    }
    const end = r.end();
    const start = r.pos;
    // The resource comes first in the schema, wherever it lies in the bytes: it is read first.
    const attributes = new Map<string, V>();
    let issue: Issue | undefined;
    let index = 0;
    ahead.pos = start;
    eachField(ahead, end, FIRST, (resourceEnd) => eachField(ahead, resourceEnd, FIRST, (kvEnd) => {
      const found = layout.attribute(ahead, kvEnd, attributes);
      issue ??= within(found, 'resource', 'attributes', index);
      index++;
    }));
    if (issue) throw issueError(within(issue, outer, resourceIndex)!);
    const resource = layout.resource(attributes);
    for (let scopeIndex = 0; r.pos < end; ) {
      const s = r.uint32();
      if (s !== SECOND) {
        r.skip(s & 7);
        continue;
      }
      const scopeEnd = r.end();
      const named = { name: '', version: '' };
      ahead.pos = r.pos;
      eachField(ahead, scopeEnd, FIRST, (fieldEnd) => scope(ahead, fieldEnd, named));
      const at = `${outer}[${resourceIndex}].${middle}[${scopeIndex}].${inner}`;
      for (let recordIndex = 0; r.pos < scopeEnd; ) {
        const f = r.uint32();
        if (f !== SECOND) {
          r.skip(f & 7);
          continue;
        }
        const recordEnd = r.end();
        const found = layout.record(r, recordEnd, resource, named, `${at}[${recordIndex}]`);
        if (found) throw issueError(within(found, outer, resourceIndex, middle, scopeIndex, inner, recordIndex)!);
        r.pos = recordEnd;
        recordIndex++;
        if (++read % RECORDS_PER_STEP === 0) yield;
      }
      scopeIndex++;
    }
    resourceIndex++;
  }
}
