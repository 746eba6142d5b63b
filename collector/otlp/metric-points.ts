import { createHash } from 'node:crypto';
import type { ServiceSelection } from '../../src/config.js';
import { STILL_SENT_MS } from '../../src/retention.js';
import type { CommittedStreamPoint, MetricStreamUpdate } from '../../src/store/types.js';
import type { Attributes } from './common.js';
import { contentId } from './content-id.js';
import { countsService, metricProfileOf, type MetricProfile } from './emitters.js';
import { firstPresent, keptAttributes, operationOf, SPAN_OR_RESOURCE_FIELDS, toText, UNKNOWN_SERVICE, type MappedEvent, type TokenField } from './mapping.js';
import type { MetricPoint } from './metrics-request.js';

/**
 * Metric points → usage events, for the services COUNT_METRICS names (docs/otel.md, "Metrics").
 * A stream is one metric's points with the same resource, scope and point attributes; each of its
 * points counts one token type. One event is counted per stream per point interval:
 * - a delta point's value is the interval's count; its id (stream, start, time) makes a retried
 *   export a duplicate, so delta streams need no state;
 * - a cumulative point's value is the count since its start time, so the interval's count is its
 *   difference from the stream's last counted point, which the store keeps (metric_streams) and
 *   moves in the transaction that stores the event. The stream resets when its start time moves on or
 *   its value drops: then the whole value is new. An older or already counted point counts nothing.
 */

const DELTA = 1;
const CUMULATIVE = 2;
const NANOS_PER_MS = 1_000_000n;

/** A point that counts tokens: its stream, where it stands, and its event still without the count. */
export interface StreamPoint {
  stream: string;
  cumulative: boolean;
  startNanos: bigint;
  timeNanos: bigint;
  value: number;
  field: TokenField;
  event: MappedEvent;
}

/**
 * The points of an export that count tokens, for a sender whose key writes to `scope` (null: any
 * project). The scope is part of each stream, so one tenant's points never move another's.
 */
export function streamPoints(points: readonly MetricPoint[], selection: ServiceSelection, scope: readonly string[] | null): StreamPoint[] {
  const out: StreamPoint[] = [];
  for (const point of points) {
    const profile = metricProfileOf(point);
    if (!profile || !countsService(selection, point.resource)) continue;
    if (!(profile.kinds as readonly string[]).includes(point.type) || point.value === undefined) continue;
    if (point.temporality !== DELTA && point.temporality !== CUMULATIVE) continue;
    const type = point.attributes.get(profile.tokenType.attribute);
    const field = typeof type === 'string' ? profile.tokenType.fields[type] : undefined;
    if (!field) continue;
    const stream = sha256([scope, point.name, point.type, entries(point.resource), point.scope.name, point.scope.version, entries(point.attributes)]);
    out.push({
      stream,
      cumulative: point.temporality === CUMULATIVE,
      startNanos: point.startNanos,
      timeNanos: point.timeNanos,
      value: Number(point.value),
      field,
      event: eventOf(point, profile, field, contentId('metric', point.timeNanos, JSON.stringify([stream, String(point.startNanos), String(point.timeNanos)]))),
    });
  }
  return out;
}

/** The streams whose state counting these points needs, in order. */
export function cumulativeStreams(points: readonly StreamPoint[]): string[] {
  return [...new Set(points.filter((p) => p.cumulative).map((p) => p.stream))].sort();
}

/**
 * The events the points count against their streams' committed points, and the moves of those
 * streams to commit with them. A point whose count is invalid (negative, not a number) is still an
 * event, which validation rejects, and so is one whose start comes after its time, refused as such;
 * a rejected interval is not counted again later, as OTLP clients do not resend rejected points
 * either. A stream whose point counts nothing is still moved, to where
 * it stands, when it was last moved more than STILL_SENT_MS before `now`: streams left alone for
 * METRIC_STREAM_RETENTION_DAYS and STILL_SENT_MS more are pruned, and one still being sent must not be.
 */
export function countPoints(points: readonly StreamPoint[], states: ReadonlyMap<string, CommittedStreamPoint>, now: number): { events: MappedEvent[]; moves: MetricStreamUpdate[] } {
  const events: MappedEvent[] = [];
  const moves: MetricStreamUpdate[] = [];
  const counted = (point: StreamPoint, count: number) => {
    if (count !== 0) events.push({ ...point.event, input: { ...point.event.input, [point.field]: count } });
  };
  const byStream = new Map<string, StreamPoint[]>();
  for (const point of points) {
    // Refused, and kept off its stream: a cumulative point's start after its time would count as a reset.
    if (point.startNanos > point.timeNanos) events.push({ ...point.event, refused: { field: 'startTimeUnixNano', message: 'must not be after timeUnixNano' } });
    else if (!point.cumulative || !isCount(point.value)) counted(point, point.value);
    else if (byStream.has(point.stream)) byStream.get(point.stream)!.push(point);
    else byStream.set(point.stream, [point]);
  }
  for (const [stream, list] of byStream) {
    const committed = states.get(stream);
    let at = committed && { start: BigInt(committed.start), time: BigInt(committed.time), value: committed.value };
    let moved = false;
    list.sort((a, b) => compare(a.startNanos, b.startNanos) || compare(a.timeNanos, b.timeNanos));
    for (const point of list) {
      const stale = at !== undefined && (point.startNanos < at.start || (point.startNanos === at.start && point.timeNanos <= at.time));
      if (stale) continue;
      const reset = at === undefined || point.startNanos !== at.start || point.value < at.value;
      const count = reset ? point.value : point.value - at!.value;
      if (count === 0 && !reset) continue;
      counted(point, count);
      at = { start: point.startNanos, time: point.timeNanos, value: point.value };
      moved = true;
    }
    if (at && (moved || (committed !== undefined && committed.moved_at < now - STILL_SENT_MS))) {
      moves.push({
        stream, start: String(at.start), time: String(at.time), value: at.value,
        previous: committed ? { start: committed.start, time: committed.time } : null,
      });
    }
  }
  return { events, moves };
}

function isCount(value: number): boolean {
  return Number.isFinite(value) && value >= 0;
}

function compare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The point's usage event, all but its count; the profile names the attributes each field comes from. */
function eventOf(point: MetricPoint, profile: MetricProfile, field: TokenField, id: string): MappedEvent {
  const input: Record<string, unknown> = { id };
  const sources: Record<string, string> = { id: 'hash of the stream and the point times', [field]: `${point.name} ${point.type === 'sum' ? 'value' : 'sum'}` };
  const read = (target: string, names: readonly string[], from: Attributes = point.attributes) => {
    const found = firstPresent(from, names);
    if (found) {
      input[target] = toText(found.value);
      sources[target] = found.name;
    }
    return found !== undefined;
  };
  read('model', profile.model);
  read('provider', profile.provider);
  read('session_id', profile.session);
  read('user_id', profile.user);
  for (const [target, names] of Object.entries(SPAN_OR_RESOURCE_FIELDS)) {
    if (!read(target, names)) read(target, names, point.resource);
  }
  if (!read('agent_id', profile.agent)) {
    const service = point.resource.get('service.name');
    input.agent_id = service === undefined ? UNKNOWN_SERVICE : toText(service);
    sources.agent_id = 'resource service.name';
  }
  const operation = operationOf(point.attributes);
  if (operation !== undefined) input.operation = operation;
  if (point.timeNanos > 0n) input.timestamp = Number(point.timeNanos / NANOS_PER_MS);
  input.attributes = keptAttributes(point.attributes, point.resource, { 'otel.metric.name': point.name, 'otel.scope.name': point.scope.name });
  return { record: `data point ${point.name} (${point.path})`, path: point.path, input, sources };
}

/** Attributes in key order, each value with its kind, so that 5 the int, 5 the double and "5" differ. */
function entries(attributes: Attributes): unknown[] {
  return [...attributes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => [key, typeof value, String(value)]);
}

function sha256(content: unknown): string {
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}
