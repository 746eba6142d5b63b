import { hash, type Hash } from 'node:crypto';

const NANOS_PER_MS = 1_000_000n;
/** Hex digits of the time: every uint64 nanosecond time (protobuf's fixed64) is below 16^12 ms. */
const TIME_DIGITS = 12;
/** Hex digits kept of the SHA-256: 128 bits. */
const HASH_DIGITS = 32;

/**
 * The id of a record that carries none of its own: `<kind>:` + its time in ms as 12 hex digits +
 * `-` + 128 bits of the SHA-256 of `content`. Led by the time, ids of records made close in time
 * sort together, so each commit's new ids land in a few leaves at the edge of the `(project, id)`
 * index instead of dirtying a leaf each (docs/benchmarks.md, "Logs ids, session 12"). The time is
 * the record's own, never the receive time: an exporter's retry must reproduce the id byte for
 * byte. A record with no time (0 or less) gets twelve zeros. Two records share an id only with the
 * same millisecond and the same 128 bits of hash, which content that differs does not reach by
 * chance; and ids are unique per project, so only a sender's own records could ever meet.
 * `opening`, when given, is a SHA-256 already fed the content's first bytes: a copy of it is fed
 * `content` (the rest), and it is left as it was, for the next record that opens the same way.
 */
export function contentId(kind: string, nanos: bigint, content: string | Uint8Array, opening?: Hash): string {
  const ms = nanos > 0n ? nanos / NANOS_PER_MS : 0n;
  const digest = opening === undefined ? hash('sha256', content, 'hex') : opening.copy().update(content).digest('hex');
  return `${kind}:${ms.toString(16).padStart(TIME_DIGITS, '0')}-${digest.slice(0, HASH_DIGITS)}`;
}
