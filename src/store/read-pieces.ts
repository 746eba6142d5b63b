import { deserialize, serialize } from 'node:v8';
import { setImmediate as turn } from 'node:timers/promises';
import type { AggregateResult, Project } from './types.js';

/**
 * A read thread's long answer (a report's groups, the projects) crosses to the main thread as
 * serialized pieces that the main thread decodes one at a time, the event loop turning between them.
 * In one message, decoding 300,000 groups held the loop 0.4–0.9 s (issue 17: no request more than
 * ~50 ms; docs/benchmarks.md, "Grafana and time series bounds, session 11"). Messages would not do
 * it alone: Node dispatches every message already queued on a port without a turn between them.
 * The pieces are transferred, not copied: each is a buffer of its own (`serialize` makes one), and
 * a copy of tens of MB of fresh memory costs the main thread its page faults, ~4 ms a MiB here.
 */
export const PIECE_ROWS = 1024;

type ListAnswer = AggregateResult | Project[];

/** The answer with its long list taken out, and that list in serialized pieces; short answers as they are. */
export function splitAnswer<T>(answer: T): { answer: T; pieces?: Uint8Array[] } {
  const list = listOf(answer as ListAnswer | object);
  if (!list || list.length <= PIECE_ROWS) return { answer };
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < list.length; i += PIECE_ROWS) pieces.push(serialize(list.slice(i, i + PIECE_ROWS)));
  return { answer: (Array.isArray(answer) ? [] : { ...answer, groups: [] }) as T, pieces };
}

/** The answer `splitAnswer` took apart, whole again; each piece decoded in a turn of its own. */
export async function joinAnswer<T>(answer: T, pieces: Uint8Array[]): Promise<T> {
  const list: unknown[] = [];
  for (const piece of pieces) {
    await turn();
    for (const row of deserialize(piece) as unknown[]) list.push(row);
  }
  return (Array.isArray(answer) ? list : { ...answer, groups: list }) as T;
}

function listOf(answer: ListAnswer | object): unknown[] | null {
  if (Array.isArray(answer)) return answer;
  return 'groups' in answer && Array.isArray(answer.groups) ? answer.groups : null;
}
