import { createHash } from 'node:crypto';
import { emitterOf } from './emitters.js';
import { flat } from './flat-string.js';
import {
  AGENT_OPERATIONS, EventInput, INFERENCE_OPERATIONS, INPUT_PARTS, REMOTE_AGENT_OPERATION, SPAN_FIELDS, SPAN_OR_RESOURCE_FIELDS, SPAN_OR_RESOURCE_TABLE, TOKEN_ATTRIBUTES,
  VERCEL_AI, VERCEL_MODEL_CALL_TOKEN_ATTRIBUTES, firstPresent, includeParts, keptAttributes, operationOf, reportsExclusiveInput, toText, UNKNOWN_SERVICE,
  type MappedEvent, type TokenField,
} from './mapping.js';
import type { AttributeValue, Attributes } from './common.js';
import { SPAN_KIND_CLIENT, STATUS_CODE_ERROR, type TraceSpan } from './request.js';
import { MAX_REMEMBERED_TEXT, type CallSpan, type SpanMemory } from './span-memory.js';
import { RECORDS_PER_STEP, runNow, type Steps } from './steps.js';

/** What the OTel SDKs report when a process sets no `service.name`. */
const NANOS_PER_MS = 1_000_000n;

/**
 * The spans of one request that are model calls, as native event inputs (still to be validated):
 * one event per call. A span counts when it carries GenAI usage, is an inference span, is not an
 * aggregate (no span with usage lies beneath it, in this request or in one remembered) and is the
 * first span seen of its call (another instrumentation's copy of a call already counted is not).
 * `keyProjects` is the ingest key's project scope: what is remembered is kept apart per scope and
 * project, so one tenant's spans never decide another's.
 */
export function spansToEvents(spans: readonly TraceSpan[], memory: SpanMemory, keyProjects: readonly string[] | null): MappedEvent[] {
  return runNow(spanEventSteps(spans, memory, keyProjects));
}

/** `spansToEvents` in steps: the calls are mapped and matched with the memory a few at a time. */
export function* spanEventSteps(spans: readonly TraceSpan[], memory: SpanMemory, keyProjects: readonly string[] | null): Steps<MappedEvent[]> {
  const byId = new SpanIndex();
  const withUsage = new Set<TraceSpan>();
  const countedByLogs = new CountedByLogs();
  for (const span of spans) {
    byId.add(span);
    // The spans of an emitter counted by its log records repeat them (emitters.ts).
    if (carriesUsage(span) && !countedByLogs.of(span)) withUsage.add(span);
    if (byId.spans % RECORDS_PER_STEP === 0) yield;
  }
  const partitions = new Partitions(keyProjects);
  const aggregates = spansAboveUsage(spans, withUsage, byId, memory, partitions);
  yield;
  const calls: Call[] = [];
  let done = 0;
  for (const span of withUsage) {
    const operation = aggregates.has(span) ? undefined : operationOf(span.attributes);
    if (!aggregates.has(span) && isInference(span, operation)) {
      const event = toEvent(span, operation, byId);
      calls.push({ span, event, rank: rank(span, event) });
    }
    if (++done % RECORDS_PER_STEP === 0) yield;
  }
  const counted = new Set<TraceSpan>();
  // Stable: calls of equal rank keep the request's order.
  const ordered = [...calls].sort((a, b) => b.rank - a.rank);
  for (let i = 0; i < ordered.length; i++) {
    const { span, event } = ordered[i]!;
    if (memory.call(callSpan(span, event, partitions))) counted.add(span);
    if ((i + 1) % RECORDS_PER_STEP === 0) yield;
  }
  return calls.filter(({ span }) => counted.has(span)).map(({ event }) => event);
}

interface Call {
  span: TraceSpan;
  event: MappedEvent;
  /** Which span of a call to count when several arrive together: the highest ranked. */
  rank: number;
}

/**
 * The spans of the request that are aggregates: above a span with usage, or remembered as having one
 * beneath them. Remembers, per trace, every ancestor id of a span with usage up to the first one
 * outside the request, so that an aggregate arriving in a later request is still known as one.
 */
function spansAboveUsage(
  spans: readonly TraceSpan[], withUsage: ReadonlySet<TraceSpan>, byId: SpanIndex, memory: SpanMemory, partitions: Partitions,
): Set<TraceSpan> {
  const above = new Set<TraceSpan>();
  for (const span of spans) {
    const remembered = memory.usageBelow(span.traceId, span.spanId)?.includes(partitions.of(span)) === true;
    if (remembered) above.add(span);
    if (!remembered && !withUsage.has(span)) continue;
    const partition = partitions.of(span);
    for (let child = span, hops = 0; child.parentSpanId !== '' && hops < byId.spans; hops++) {
      memory.rememberUsageBelow(child.traceId, child.parentSpanId, partition);
      const parent = byId.parentOf(child);
      if (!parent || above.has(parent)) break;
      above.add(parent);
      child = parent;
    }
  }
  return above;
}

const TOKEN_FIELDS = Object.keys(TOKEN_ATTRIBUTES);

/** The first of `names` present in the attributes. */
function presentName(attributes: Attributes, names: readonly string[]): string | undefined {
  for (const name of names) if (attributes.has(name)) return name;
  return undefined;
}

/** The provider's response id for the call; an empty one names no call (every such span would be one). */
function responseIdOf(span: TraceSpan): string | undefined {
  const value = span.attributes.get('gen_ai.response.id');
  const text = value === undefined ? '' : cut(value);
  return text === '' ? undefined : text;
}

/** A span naming the provider's response id first, then the one with more counts. */
function rank(span: TraceSpan, event: MappedEvent): number {
  let rank = responseIdOf(span) === undefined ? 0 : 100;
  for (const field of TOKEN_FIELDS) if (event.input[field] !== undefined) rank++;
  return rank;
}

const MODEL_ATTRIBUTES = SPAN_FIELDS.model;

/** A client's text as the memory keeps it (see MAX_REMEMBERED_TEXT). */
const cut = (value: AttributeValue) => toText(value).slice(0, MAX_REMEMBERED_TEXT);

function callSpan(span: TraceSpan, { input }: MappedEvent, partitions: Partitions): CallSpan {
  return {
    // The event's id: one string, hashed once.
    key: input.id as string,
    partition: partitions.of(span),
    scope: cut(span.scope.name),
    resource: partitions.resource(span.resource),
    models: modelsOf(span.attributes),
    responseId: responseIdOf(span),
    inputTokens: cut(String(input.input_tokens)),
    startNanos: span.startNanos,
    endNanos: span.endNanos,
  };
}

function modelsOf(attributes: Attributes): string[] {
  const models: string[] = [];
  for (const name of MODEL_ATTRIBUTES) {
    const value = attributes.get(name);
    if (value !== undefined) models.push(cut(value));
  }
  return models;
}

/**
 * Whose spans these are, for what is remembered: the key's project scope and the span's project
 * (`tokentally.project` on the span, else its resource). Resource forms are computed once per resource.
 */
class Partitions {
  private readonly scope: string;
  private readonly resources = new Map<Attributes, string>();
  /** Partitions by project, and by the resource of spans that name none of their own. */
  private readonly byProject = new Map<AttributeValue, string>();
  private readonly byResource = new Map<Attributes, string>();
  constructor(keyProjects: readonly string[] | null) {
    this.scope = keyProjects === null ? '*' : keyProjects.join('+');
  }

  of(span: TraceSpan): string {
    const own = presentName(span.attributes, SPAN_OR_RESOURCE_FIELDS.project);
    if (own !== undefined) return this.ofProject(span.attributes.get(own)!);
    let partition = this.byResource.get(span.resource);
    if (partition === undefined) {
      const project = firstPresent(span.resource, SPAN_OR_RESOURCE_FIELDS.project);
      partition = project === undefined ? this.scope : this.ofProject(project.value);
      this.byResource.set(span.resource, partition);
    }
    return partition;
  }

  private ofProject(project: AttributeValue): string {
    let partition = this.byProject.get(project);
    if (partition === undefined) this.byProject.set(project, (partition = flat(`${this.scope}\n${cut(project)}`)));
    return partition;
  }

  /** A digest of the resource's attributes, sorted: equal for the spans of one process. */
  resource(attributes: Attributes): string {
    let digest = this.resources.get(attributes);
    if (digest === undefined) {
      const sorted = [...attributes].map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]).sort(([a], [b]) => (a! < b! ? -1 : 1));
      digest = createHash('sha256').update(JSON.stringify(sorted)).digest('base64url');
      this.resources.set(attributes, digest);
    }
    return digest;
  }
}

/** Whether a span's emitter is counted by its log records (emitters.ts), asked once per resource and scope: a request's spans share few. */
class CountedByLogs {
  private resource: Attributes | undefined;
  private scope: TraceSpan['scope'] | undefined;
  private answer = false;

  of(span: TraceSpan): boolean {
    if (span.resource !== this.resource || span.scope !== this.scope) {
      this.resource = span.resource;
      this.scope = span.scope;
      this.answer = emitterOf(span.resource, span.scope)?.counted === 'logs';
    }
    return this.answer;
  }
}

const USAGE_NAMES: readonly string[] = Object.values(TOKEN_ATTRIBUTES).flat();

function carriesUsage({ attributes }: TraceSpan): boolean {
  if (attributes.size === 0) return false;
  for (const name of USAGE_NAMES) if (attributes.has(name)) return true;
  return false;
}

/** `operation`: the span's, as operationOf reads it. */
function isInference(span: TraceSpan, operation: string | undefined): boolean {
  if (operation === undefined || INFERENCE_OPERATIONS.has(operation)) return true;
  return operation === REMOTE_AGENT_OPERATION && span.kind === SPAN_KIND_CLIENT;
}

const TOKEN_TABLE = Object.entries(TOKEN_ATTRIBUTES);
const VERCEL_TOKEN_TABLE = Object.entries(VERCEL_MODEL_CALL_TOKEN_ATTRIBUTES);
const SPAN_TABLE = Object.entries(SPAN_FIELDS);

/** `operation`: the span's, as operationOf reads it. */
function toEvent(span: TraceSpan, operation: string | undefined, byId: SpanIndex): MappedEvent {
  const built = new EventInput(span.attributes);
  const { input } = built;
  built.set('id', span.traceId + span.spanId, 'traceId/spanId');

  const vercelModelCall = VERCEL_AI.modelCallSpan.test(span.name);
  for (const [field, names] of vercelModelCall ? VERCEL_TOKEN_TABLE : TOKEN_TABLE) built.readCount(field, names);
  const vercelRawAnthropic = vercelModelCall && isVercelV5Anthropic(span);
  if (vercelRawAnthropic) readVercelAnthropicCache(span, input, (field, value, source) => built.set(field, value, source));
  // Input counts cached tokens too, unless the instrumentation is known to leave them out.
  includeParts(input, 'input_tokens', INPUT_PARTS, vercelRawAnthropic || reportsExclusiveInput(span.scope));

  for (const [field, names] of SPAN_TABLE) {
    if (field === 'operation') {
      if (operation !== undefined) built.set(field, operation, presentName(span.attributes, names)!);
    } else if (field === 'cost_usd') built.readCount(field, names);
    else built.readText(field, names);
  }
  for (const [field, names] of SPAN_OR_RESOURCE_TABLE) {
    if (built.readText(field, names)) continue;
    const found = firstPresent(span.resource, names);
    if (found) built.set(field, toText(found.value), found.name);
  }
  if (input.agent_id === undefined) {
    const fromAncestor = ancestorAgent(span, byId);
    const service = span.resource.get('service.name');
    if (fromAncestor !== undefined) built.set('agent_id', fromAncestor, 'invoke_agent ancestor');
    else built.set('agent_id', service === undefined ? UNKNOWN_SERVICE : toText(service), 'resource service.name');
  }

  const end = span.endNanos > 0n ? span.endNanos : span.startNanos;
  if (end > 0n) built.set('timestamp', Number(end / NANOS_PER_MS), 'endTimeUnixNano');
  if (span.startNanos > 0n && span.endNanos >= span.startNanos) {
    built.set('duration_ms', Number((span.endNanos - span.startNanos) / NANOS_PER_MS), 'startTimeUnixNano/endTimeUnixNano');
  }
  input.status = span.statusCode === STATUS_CODE_ERROR ? 'error' : 'ok';
  input.attributes = keptAttributes(span.attributes, span.resource, { 'span.name': span.name, 'otel.scope.name': span.scope.name });
  return { record: `span ${span.traceId}/${span.spanId} (${span.path})`, path: span.path, input, sources: built.sources };
}

/** A Vercel AI SDK v5 span of an Anthropic call: raw (exclusive) input, cache counts in the provider metadata. */
function isVercelV5Anthropic(span: TraceSpan): boolean {
  const system = span.attributes.get('gen_ai.system');
  return typeof system === 'string' && VERCEL_AI.anthropicSystem.test(system) && !span.attributes.has(VERCEL_AI.v6Marker);
}

/** The cache counts that only `ai.response.providerMetadata` holds (`anthropic.usage`), where no attribute gave them. */
function readVercelAnthropicCache(span: TraceSpan, input: Record<string, unknown>, set: (field: string, value: unknown, source: string) => void): void {
  const metadata = span.attributes.get(VERCEL_AI.providerMetadata);
  if (typeof metadata !== 'string') return;
  let usage: unknown;
  try {
    usage = (JSON.parse(metadata) as { anthropic?: { usage?: unknown } } | null)?.anthropic?.usage;
  } catch {
    return;
  }
  if (typeof usage !== 'object' || usage === null) return;
  const counts = usage as Record<string, unknown>;
  const fields: [TokenField, string][] = [['cache_read_tokens', 'cache_read_input_tokens'], ['cache_write_tokens', 'cache_creation_input_tokens']];
  for (const [field, key] of fields) {
    if (input[field] === undefined && typeof counts[key] === 'number') set(field, counts[key], `${VERCEL_AI.providerMetadata} anthropic.usage.${key}`);
  }
}

/** The name of the nearest agent span above this one among the spans of the same request. */
function ancestorAgent(span: TraceSpan, byId: SpanIndex): string | undefined {
  let parent = byId.parentOf(span);
  for (let hops = 0; parent && hops < byId.spans; hops++) {
    const operation = operationOf(parent.attributes);
    if (operation !== undefined && AGENT_OPERATIONS.has(operation)) {
      const named = firstPresent(parent.attributes, SPAN_FIELDS.agent_id);
      const name = named ? toText(named.value) : parent.name.replace(/^invoke_agent\s+/, '');
      if (name.trim() !== '') return name;
    }
    parent = byId.parentOf(parent);
  }
  return undefined;
}

/** The request's spans by trace id, then span id (the last of a pair sent wins), without joining the two ids into a key. */
class SpanIndex {
  private readonly traces = new Map<string, Map<string, TraceSpan>>();
  /** Spans added: no chain of parents is longer. */
  spans = 0;

  add(span: TraceSpan): void {
    let spans = this.traces.get(span.traceId);
    if (spans === undefined) this.traces.set(span.traceId, (spans = new Map()));
    spans.set(span.spanId, span);
    this.spans++;
  }

  parentOf(span: TraceSpan): TraceSpan | undefined {
    return span.parentSpanId === '' ? undefined : this.traces.get(span.traceId)?.get(span.parentSpanId);
  }
}
