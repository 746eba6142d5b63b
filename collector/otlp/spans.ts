import { emitterOf } from './emitters.js';
import {
  AGENT_OPERATIONS, INFERENCE_OPERATIONS, INPUT_PARTS, REMOTE_AGENT_OPERATION, SPAN_FIELDS, SPAN_OR_RESOURCE_FIELDS, TOKEN_ATTRIBUTES,
  firstPresent, includeParts, keptAttributes, operationOf, reportsExclusiveInput, toCount, toText, type MappedEvent,
} from './mapping.js';
import { SPAN_KIND_CLIENT, STATUS_CODE_ERROR, type TraceSpan } from './request.js';


/** What the OTel SDKs report when a process sets no `service.name`. */
const UNKNOWN_SERVICE = 'unknown_service';
const NANOS_PER_MS = 1_000_000n;

/**
 * The spans of one request that carry GenAI usage and are inference calls, as native event inputs
 * (still to be validated). Other spans, which includes agent and workflow spans that sum their
 * children, are skipped: counting them would double the spend.
 */
export function spansToEvents(spans: readonly TraceSpan[]): MappedEvent[] {
  const byId = new Map(spans.map((s) => [s.traceId + s.spanId, s]));
  const events: MappedEvent[] = [];
  for (const span of spans) {
    // The spans of an emitter counted by its log records repeat them (emitters.ts).
    if (!carriesUsage(span) || !isInference(span) || emitterOf(span.resource, span.scope)?.counted === 'logs') continue;
    events.push(toEvent(span, () => ancestorAgent(span, byId)));
  }
  return events;
}

function carriesUsage(span: TraceSpan): boolean {
  return Object.values(TOKEN_ATTRIBUTES).some((names) => firstPresent(span.attributes, names) !== undefined);
}

function isInference(span: TraceSpan): boolean {
  const operation = operationOf(span.attributes);
  if (operation === undefined || INFERENCE_OPERATIONS.has(operation)) return true;
  return operation === REMOTE_AGENT_OPERATION && span.kind === SPAN_KIND_CLIENT;
}

function toEvent(span: TraceSpan, ancestor: () => string | undefined): MappedEvent {
  const input: Record<string, unknown> = { id: span.traceId + span.spanId };
  const sources: Record<string, string> = { id: 'traceId/spanId' };
  const set = (field: string, value: unknown, source: string) => {
    input[field] = value;
    sources[field] = source;
  };

  for (const [field, names] of Object.entries(TOKEN_ATTRIBUTES)) {
    const found = firstPresent(span.attributes, names);
    if (found) set(field, toCount(found.value), found.name);
  }
  // Input counts cached tokens too, unless the instrumentation is known to leave them out.
  includeParts(input, 'input_tokens', INPUT_PARTS, reportsExclusiveInput(span.scope));

  for (const [field, names] of Object.entries(SPAN_FIELDS)) {
    const found = firstPresent(span.attributes, names);
    if (!found) continue;
    if (field === 'cost_usd') set(field, toCount(found.value), found.name);
    else if (field === 'operation') set(field, operationOf(span.attributes), found.name);
    else set(field, toText(found.value), found.name);
  }
  for (const [field, names] of Object.entries(SPAN_OR_RESOURCE_FIELDS)) {
    const found = firstPresent(span.attributes, names) ?? firstPresent(span.resource, names);
    if (found) set(field, toText(found.value), found.name);
  }
  if (input.agent_id === undefined) {
    const fromAncestor = ancestor();
    const service = span.resource.get('service.name');
    if (fromAncestor !== undefined) set('agent_id', fromAncestor, 'invoke_agent ancestor');
    else set('agent_id', service === undefined ? UNKNOWN_SERVICE : toText(service), 'resource service.name');
  }

  const end = span.endNanos > 0n ? span.endNanos : span.startNanos;
  if (end > 0n) set('timestamp', Number(end / NANOS_PER_MS), 'endTimeUnixNano');
  if (span.startNanos > 0n && span.endNanos >= span.startNanos) {
    set('duration_ms', Number((span.endNanos - span.startNanos) / NANOS_PER_MS), 'startTimeUnixNano/endTimeUnixNano');
  }
  input.status = span.statusCode === STATUS_CODE_ERROR ? 'error' : 'ok';
  input.attributes = keptAttributes(span.attributes, span.resource, { 'span.name': span.name, 'otel.scope.name': span.scope.name });
  return { record: `span ${span.traceId}/${span.spanId} (${span.path})`, input, sources };
}

/** The name of the nearest agent span above this one among the spans of the same request. */
function ancestorAgent(span: TraceSpan, byId: ReadonlyMap<string, TraceSpan>): string | undefined {
  let parent = byId.get(span.traceId + span.parentSpanId);
  for (let hops = 0; parent && hops < byId.size; hops++) {
    const operation = operationOf(parent.attributes);
    if (operation !== undefined && AGENT_OPERATIONS.has(operation)) {
      const named = firstPresent(parent.attributes, SPAN_FIELDS.agent_id);
      const name = named ? toText(named.value) : parent.name.replace(/^invoke_agent\s+/, '');
      if (name.trim() !== '') return name;
    }
    parent = byId.get(parent.traceId + parent.parentSpanId);
  }
  return undefined;
}
