import { invalidSettings, type ServiceSelection } from '../../src/config.js';
import type { Attributes } from './common.js';
import type { LogRecord } from './logs-request.js';
import { SPAN_FIELDS, TOKEN_ATTRIBUTES, type TokenField } from './mapping.js';

/**
 * The emitters whose telemetry tokentally knows, as data: how each is recognised, which of its
 * records is the one per model call (a log record, or for Copilot a span), and how that record's
 * fields read. Everything else such an emitter sends — spans, other log events, metrics — repeats
 * that record and is ignored, so one call is one event whatever signals the emitter has turned on. docs/agents.md describes this table
 * for users; keep the two in step. Field names are from the captures in test/fixtures/agents where
 * there are some (test/agents/README.md, FINDINGS), else from the emitter's published source.
 */

/** Attribute names; the first present wins. */
type Names = readonly string[];

interface Recognised {
  /** Starts the ids made from its own ids: `claude-code:req_…`. */
  key: string;
  name: string;
  /** Its records carry one of these resource `service.name`s, or one of these instrumentation scopes. */
  services: readonly string[];
  scopes: readonly string[];
}

/**
 * An emitter whose model calls are its spans, which the generic span rules (spans.ts) count; its
 * log events, the OTel GenAI inference event among them, and its metrics repeat them.
 */
export interface SpanEmitter extends Recognised {
  counted: 'spans';
}

/** An emitter whose model calls are one log record each; its spans, other log events and metrics repeat it. */
export interface EmitterProfile extends Recognised {
  counted: 'logs';
  /**
   * Its per-call log record: the event name (the OTLP `eventName`, the `event.name` attribute or a
   * string body), attribute values it must have, and an input or output count.
   */
  call: { events: readonly string[]; where?: Readonly<Record<string, string>> };
  tokens: Partial<Record<TokenField, Names>>;
  /** Input leaves cache reads and writes out, so they are added; else only a count that cannot hold them (cache > input) gets them added. */
  inputExcludesCache: boolean;
  /** Output leaves reasoning out, so it is added; else only when reasoning > output. */
  outputExcludesReasoning: boolean;
  model: Names;
  /** The provider as the record names it, else the one the emitter always calls (pricing prefers its models). */
  provider: { names: Names; otherwise?: string };
  /** A cost the emitter reports in USD: kept as reported. */
  cost: Names;
  /**
   * The emitter's own id for the call: the first list whose attributes are all present, joined by
   * `/`. Without one, a hash of the record (which an exporter's retry sends unchanged) is the id.
   */
  ids: readonly Names[];
  session: Names;
  user: Names;
  /** The record's own agent (a subagent's name); without it, the resource's `service.name`. */
  agent: Names;
  duration: Names;
  /** Further attributes kept on the event. */
  kept: Names;
}

/** What the CLIs profiled here share: counts and ids of their own, no OTel GenAI attribute names. */
const CLI = {
  counted: 'logs', cost: [], ids: [], agent: [], duration: [], kept: [], provider: { names: [] }, inputExcludesCache: false, outputExcludesReasoning: false,
} as const;

const GEMINI_FIELDS = {
  tokens: {
    input_tokens: ['input_token_count'], output_tokens: ['output_token_count'],
    cache_read_tokens: ['cached_content_token_count'], reasoning_tokens: ['thoughts_token_count'],
  },
  model: ['model'],
  session: ['session.id'],
  user: ['user.email', 'installation.id'],
  duration: ['duration_ms'],
} as const;

const EMITTERS: readonly (EmitterProfile | SpanEmitter)[] = [
  {
    // Repeated by: span claude_code.llm_request (beta traces), metrics claude_code.token.usage and
    // claude_code.cost.usage. Not usage: claude_code.interaction, subagent and compaction counts.
    ...CLI,
    key: 'claude-code',
    name: 'Claude Code',
    services: ['claude-code', 'claude-code-desktop'],
    scopes: ['com.anthropic.claude_code.events', 'com.anthropic.claude_code', 'com.anthropic.claude_code.tracing'],
    call: { events: ['claude_code.api_request', 'api_request'] },
    tokens: {
      input_tokens: ['input_tokens'], output_tokens: ['output_tokens'],
      cache_read_tokens: ['cache_read_tokens'], cache_write_tokens: ['cache_creation_tokens'],
    },
    // Anthropic's raw input_tokens; output includes thinking, which is not reported apart.
    inputExcludesCache: true,
    model: ['model'],
    provider: { names: [], otherwise: 'anthropic' },
    // Claude Code's own list-price estimate.
    cost: ['cost_usd'],
    // request_id is the response's request-id header, absent behind a proxy that drops it.
    ids: [['request_id'], ['session.id', 'event.sequence']],
    session: ['session.id'],
    user: ['user.email', 'user.id'],
    agent: ['agent.name'],
    duration: ['duration_ms'],
    kept: ['organization.id', 'user.account_uuid', 'query_source', 'agent.name', 'prompt.id', 'anthropic.provider'],
  },
  {
    // Repeated by: the other response.completed record of the call (no counts), spans handle_responses
    // (gen_ai.usage.*, no model) and session_task.turn (turn sums), metric codex.turn.token_usage.
    ...CLI,
    key: 'codex',
    name: 'Codex CLI',
    services: ['codex_exec', 'codex_cli_rs', 'codex-app-server'],
    scopes: ['codex_otel.log_only'],
    call: { events: ['codex.sse_event'], where: { 'event.kind': 'response.completed' } },
    // Input includes cache; output includes reasoning. tool_token_count is input + output: never read.
    tokens: {
      input_tokens: ['input_token_count'], output_tokens: ['output_token_count'], cache_read_tokens: ['cached_token_count'],
      cache_write_tokens: ['cache_write_token_count'], reasoning_tokens: ['reasoning_token_count'],
    },
    model: ['model'],
    session: ['conversation.id'],
    user: ['user.email', 'user.account_id'],
    kept: ['app.version', 'originator', 'model_reasoning_effort', 'user.account_id'],
  },
  {
    // Repeated by: log gen_ai.client.inference.operation.details (output without thoughts, no cache),
    // span llm_call, metrics gemini_cli.token.usage and gen_ai.client.token.usage (cumulative).
    ...CLI,
    ...GEMINI_FIELDS,
    key: 'gemini-cli',
    name: 'Gemini CLI',
    services: ['gemini-cli'],
    scopes: ['gemini-cli'],
    // Every prompt's first call is the routing call (role utility_router): real spend, counted.
    call: { events: ['gemini_cli.api_response'] },
    // Input includes cache; output_token_count is the candidates' count, thoughts apart.
    outputExcludesReasoning: true,
    provider: { names: [], otherwise: 'gcp.gen_ai' },
    kept: ['role', 'prompt_id', 'auth_type'],
  },
  {
    // Gemini CLI's fork, not captured: the same records and fields, named qwen-code.*. With an
    // OpenAI-compatible provider its output count already holds the reasoning tokens.
    ...CLI,
    ...GEMINI_FIELDS,
    key: 'qwen-code',
    name: 'Qwen Code',
    services: ['qwen-code'],
    scopes: ['qwen-code'],
    call: { events: ['qwen-code.api_response'] },
    ids: [['response_id']],
    agent: ['subagent_name'],
    kept: ['prompt_id', 'auth_type', 'subagent_name'],
  },
  {
    // Not captured: from Cline's source. Repeated by task.tokens and the cline.* counters and
    // histograms. Whether tokensIn holds the cache counts is not known: only an impossible count
    // (cache > input) is corrected.
    ...CLI,
    key: 'cline',
    name: 'Cline',
    services: ['cline'],
    scopes: ['cline'],
    call: { events: ['task.conversation_turn'] },
    tokens: {
      input_tokens: ['tokensIn'], output_tokens: ['tokensOut'],
      cache_read_tokens: ['cacheReadTokens'], cache_write_tokens: ['cacheWriteTokens'],
    },
    model: ['model'],
    provider: { names: ['provider'] },
    cost: ['totalCost'],
    session: ['ulid'],
    user: ['user_id', 'distinct_id'],
    kept: ['mode', 'organization_id'],
  },
  {
    // VS Code Copilot Chat (its source) and Copilot CLI: `chat {model}` spans with gen_ai.usage.*,
    // under `invoke_agent` roots; each call is also a gen_ai.client.inference.operation.details log
    // event with the same counts, and metrics repeat them.
    key: 'copilot',
    name: 'GitHub Copilot',
    counted: 'spans',
    services: ['copilot-chat', 'github-copilot'],
    scopes: [],
  },
];

/**
 * Any other emitter: a log record of the OTel GenAI inference event (semantic-conventions
 * `event.gen_ai.client.inference.operation.details`) that carries usage is one call. Its spans
 * follow the generic span rules (spans.ts).
 */
const GENAI_EVENT: EmitterProfile = {
  key: 'gen_ai',
  name: 'OTel GenAI event',
  counted: 'logs',
  services: [],
  scopes: [],
  call: { events: ['gen_ai.client.inference.operation.details'] },
  tokens: TOKEN_ATTRIBUTES,
  inputExcludesCache: false,
  outputExcludesReasoning: false,
  model: SPAN_FIELDS.model,
  provider: { names: SPAN_FIELDS.provider },
  cost: SPAN_FIELDS.cost_usd,
  ids: [['gen_ai.response.id']],
  session: SPAN_FIELDS.session_id,
  user: SPAN_FIELDS.user_id,
  agent: SPAN_FIELDS.agent_id,
  duration: [],
  kept: [],
};

const BY_SERVICE = new Map(EMITTERS.flatMap((e) => e.services.map((s) => [s, e] as const)));
const BY_SCOPE = new Map(EMITTERS.flatMap((e) => e.scopes.map((s) => [s, e] as const)));

/** The known emitter a record comes from, by its resource's service.name or its scope. */
export function emitterOf(resource: Attributes, scope: { name: string }): EmitterProfile | SpanEmitter | undefined {
  const service = resource.get('service.name');
  return (typeof service === 'string' ? BY_SERVICE.get(service) : undefined) ?? BY_SCOPE.get(scope.name);
}

/** The event name of a log record that is one of `events`: its OTLP eventName, its `event.name` attribute, a string body, in that order. */
function eventNamed(record: LogRecord, events: readonly string[]): string | undefined {
  if (events.includes(record.eventName)) return record.eventName;
  const attribute = record.attributes.get('event.name');
  if (typeof attribute === 'string' && events.includes(attribute)) return attribute;
  return typeof record.body === 'string' && events.includes(record.body) ? record.body : undefined;
}

/** What tells a profile's per-call record, made once per profile rather than per record. */
interface CallTest {
  where: readonly [string, string][];
  /** Its input and output count attributes: the record must have one. */
  counts: readonly string[];
}

const callTests = new WeakMap<EmitterProfile, CallTest>();

function callTest(profile: EmitterProfile): CallTest {
  let test = callTests.get(profile);
  if (test === undefined) {
    const counts = [...(profile.tokens.input_tokens ?? []), ...(profile.tokens.output_tokens ?? [])];
    callTests.set(profile, (test = { where: Object.entries(profile.call.where ?? {}), counts }));
  }
  return test;
}

/**
 * The profile a log record is the per-call record of, with the event name it matched; undefined
 * for every other record (repeats, other events, logs without usage). `emitter`: the record's
 * (`emitterOf` its resource and scope).
 */
export function perCallProfile(
  record: LogRecord, emitter: EmitterProfile | SpanEmitter | undefined,
): { profile: EmitterProfile; event: string } | undefined {
  if (emitter?.counted === 'spans') return undefined;
  const profile = emitter ?? GENAI_EVENT;
  const event = eventNamed(record, profile.call.events);
  if (event === undefined) return undefined;
  const { where, counts } = callTest(profile);
  for (const [key, value] of where) if (record.attributes.get(key) !== value) return undefined;
  return counts.some((name) => record.attributes.has(name)) ? { profile, event } : undefined;
}

/**
 * A metric whose points count tokens, for emitters that send no per-call record: its points are
 * counted only when COUNT_METRICS names the sending service (docs/otel.md, "Metrics"). Each point
 * counts one token type, named by an attribute; every other value of it (a total, say) is ignored.
 */
export interface MetricProfile {
  key: string;
  /** The metric's name, and the point kinds whose value (a sum's value, a histogram's sum) is a token count. */
  metric: string;
  kinds: readonly ('sum' | 'histogram' | 'exponentialHistogram')[];
  tokenType: { attribute: string; fields: Readonly<Record<string, TokenField>> };
  model: Names;
  provider: Names;
  session: Names;
  user: Names;
  /** The point's own agent; without it, the resource's `service.name`. */
  agent: Names;
}

/**
 * semantic-conventions (docs/gen-ai/gen-ai-metrics.md): the `gen_ai.client.token.usage` histogram,
 * `gen_ai.token.type` `input` or `output` (`completion` its deprecated name for output). Gemini CLI and
 * Copilot send it too, but they are known emitters with per-call records, so it is never theirs counted.
 */
const GENAI_METRIC: MetricProfile = {
  key: 'gen_ai',
  metric: 'gen_ai.client.token.usage',
  kinds: ['histogram', 'exponentialHistogram'],
  tokenType: { attribute: 'gen_ai.token.type', fields: { input: 'input_tokens', output: 'output_tokens', completion: 'output_tokens' } },
  model: SPAN_FIELDS.model,
  provider: SPAN_FIELDS.provider,
  session: SPAN_FIELDS.session_id,
  user: SPAN_FIELDS.user_id,
  agent: SPAN_FIELDS.agent_id,
};

/**
 * The profile a metric point counts tokens by, or undefined: only emitters that the table does not
 * know have no per-call record (the known ones' metrics repeat their records, see above).
 */
export function metricProfileOf(point: { name: string; resource: Attributes; scope: { name: string } }): MetricProfile | undefined {
  if (emitterOf(point.resource, point.scope)) return undefined;
  return point.name === GENAI_METRIC.metric ? GENAI_METRIC : undefined;
}

/**
 * COUNT_METRICS may not name a known emitter's service: its metrics only repeat its per-call
 * records, so counting them would double its spend. Throws the start-up error saying so.
 */
export function checkCountMetrics(selection: ServiceSelection | undefined): void {
  if (selection === undefined) return;
  const setting = [...(selection.anyService ? ['*'] : []), ...selection.services].join(',');
  const problems = [...selection.services].flatMap((service) => {
    const emitter = BY_SERVICE.get(service);
    if (!emitter) return [];
    const record = emitter.counted === 'logs' ? `a per-call log record (${emitter.call.events[0]})` : 'a span per call';
    return [{ name: 'COUNT_METRICS', value: setting, message: `"${service}" is ${emitter.name}, which sends ${record}; its metrics only repeat it and are never counted` }];
  });
  if (problems.length > 0) throw invalidSettings(problems);
}

/** Whether COUNT_METRICS selects the service a point's resource names. */
export function countsService(selection: ServiceSelection, resource: Attributes): boolean {
  const service = resource.get('service.name');
  return selection.anyService || (typeof service === 'string' && selection.services.has(service));
}
