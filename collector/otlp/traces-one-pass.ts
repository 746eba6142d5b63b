import { CheckedWire } from './checked-wire.js';
import { scanAround, SPAN_RULES, type OtlpLimits } from './decode.js';
import { LongStrings } from './long-strings.js';
import { Wire } from './protobuf-reader.js';
import type { TraceSpan } from './request.js';
import { FieldScan, ruleAt } from './scan.js';
import type { Steps } from './steps.js';
import { readSpans, Within } from './traces-protobuf.js';

/**
 * The spans of a protobuf traces body with each span's bytes walked once, as log records are
 * (log-records.ts, `onePassLogEventSteps`): the scan walks around the spans (`scanAround`), the
 * span reader walks each span through `CheckedWire`, which checks what it reads (tags, lengths,
 * varints, fixed fields, message ends, UTF-8 and the values count) as it reads the ids, times,
 * status code and the scalar values of the keys the span rules may keep; every field it passes
 * over (the name, the keys, other values, lists in values, events, links, the status message,
 * unknown fields) is walked by the scan's own rules (`FieldScan`), counting into the same values
 * count. The name and the times of a span with kept attributes are then read again from those
 * checked bytes.
 *
 * Undefined at any failure, with nothing handed on (the spans are mapped only once all are read):
 * the body is then scanned and read the two-pass way, which decides its error (or, for a long
 * string, reads it with that string noted). A body read through is one the scan passes, read by
 * the same reader: the same spans.
 */

/** By `Within`: the rules of a span, of a KeyValue of its attributes (field 9), of its Status (15) and of an attribute's AnyValue... */
const RULES = [SPAN_RULES, ruleAt(SPAN_RULES, 9), ruleAt(SPAN_RULES, 15), ruleAt(SPAN_RULES, 9, 2)];
/** ...and how many messages enclose each: a span lies in a request, a ResourceSpans and a ScopeSpans. */
const LEVELS = [3, 4, 4, 5];

export function* onePassSpanSteps(body: Buffer, limits: OtlpLimits): Steps<TraceSpan[] | undefined> {
  try {
    const long = new LongStrings();
    const values = scanAround('traces', body, limits, long);
    if (long.paths.length > 0) return undefined;
    yield;
    const checked = new CheckedWire(body, values, limits.values.limit);
    const scan = new FieldScan(body, limits);
    return yield* readSpans(checked, {
      pass(r, t, within, end) {
        r.pos = scan.walk(RULES[within]!, t, r.pos, end, LEVELS[within]!);
        checked.count(scan.values);
      },
      again: new Wire(body),
    });
  } catch {
    // As for log records: an error met on bytes not yet checked must not become the answer.
    return undefined;
  }
}
