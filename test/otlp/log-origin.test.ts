import { describe, expect, it } from 'vitest';
import { WIDE } from '../support/one-pass.js';
import { logRecordsToEvents, onePassLogEventSteps, wireLogEventSteps } from '../../collector/otlp/log-records.js';
import { ExportLogsRequest } from '../../collector/otlp/logs-request.js';
import type { MappedEvent } from '../../collector/otlp/mapping.js';
import { runNow } from '../../collector/otlp/steps.js';
import { encodeProtobuf, otlpLogsRequest, type LogSpec } from '../support/otlp.js';

/**
 * What a log record's mapping takes from its resource and scope (its emitter, the resource's
 * project, task, run and step, its service as the agent, its tags) is worked out once for the
 * records that share them (log-origin.ts). Each record must map as it would alone, whatever
 * resource or scope came before it, by every read of a logs body.
 */

type Attributes = Record<string, string | number | boolean>;
type Scope = { name: string; version: string };

const claude: LogSpec = {
  attributes: {
    'event.name': 'api_request', 'request_id': 'req_1', 'session.id': 'sess-1', 'model': 'claude-sonnet-4-5', 'input_tokens': 10,
    'output_tokens': 5, 'cache_read_tokens': 100, 'cost_usd': 0.01, 'user.email': 'ada@example.com', 'organization.id': 'org-1',
    'tokentally.tag.team': 'record-team', 'tokentally.tag.only': 'record', 'tokentally.task': 'record-task',
  },
};
const codex: LogSpec = {
  attributes: {
    'event.name': 'codex.sse_event', 'event.kind': 'response.completed', 'model': 'gpt-5.1-codex', 'conversation.id': 'conv-1',
    'input_token_count': 1200, 'output_token_count': 340, 'originator': 'codex_exec', 'tokentally.project': 'record-project',
  },
};
const genAi: LogSpec = {
  eventName: 'gen_ai.client.inference.operation.details',
  attributes: { 'gen_ai.response.id': 'resp-1', 'gen_ai.request.model': 'gpt-4.1', 'gen_ai.usage.input_tokens': 7, 'gen_ai.usage.output_tokens': 3 },
};

const CLAUDE_SCOPE = { name: 'com.anthropic.claude_code.events', version: '2.1.0' };
const CODEX_SCOPE = { name: 'codex_otel.log_only', version: '0.171.0' };
const OTHER_SCOPE = { name: 'some.library', version: '1.0.0' };
const projectAndTags: Attributes = {
  'tokentally.project': 'resource-project', 'tokentally.run_id': 'run-1', 'tokentally.tag.team': 'resource-team', 'tokentally.tag.region': 'eu',
};

/** Resources and their scopes, each known emitter found once by its service and once by its scope only. */
const LAYOUT: { resource: Attributes; scopes: Scope[] }[] = [
  { resource: { 'service.name': 'claude-code', ...projectAndTags }, scopes: [CLAUDE_SCOPE, OTHER_SCOPE] },
  { resource: { 'service.name': 'codex_exec', ...projectAndTags }, scopes: [CLAUDE_SCOPE, OTHER_SCOPE] },
  // No known service: the scope names the emitter, or none does.
  { resource: { 'service.name': 'my-service', 'tokentally.step_id': 'step-1' }, scopes: [CODEX_SCOPE, CLAUDE_SCOPE, OTHER_SCOPE, CODEX_SCOPE] },
  { resource: { 'tokentally.tag.team': 'nameless' }, scopes: [CLAUDE_SCOPE, CODEX_SCOPE] },
  { resource: { 'service.name': 'claude-code', 'tokentally.task': 'resource-task' }, scopes: [CLAUDE_SCOPE] },
];
const RECORDS = [claude, codex, genAi];

function request(layout: typeof LAYOUT, records: LogSpec[]) {
  return {
    resourceLogs: layout.map(({ resource, scopes }) => ({
      resource: otlpLogsRequest([], { resource }).resourceLogs[0]!.resource,
      scopeLogs: scopes.map((scope) => otlpLogsRequest(records, { resource, scope }).resourceLogs[0]!.scopeLogs[0]!),
    })),
  };
}

/** The events of a request by each read: two-pass wire, one-pass wire, OTLP/JSON; all three the same. */
function events(json: ReturnType<typeof request>): MappedEvent[] {
  const body = Buffer.from(encodeProtobuf('logs', json));
  const wire: MappedEvent[] = [];
  runNow(wireLogEventSteps(body, (event) => wire.push(event)));
  const onePass: MappedEvent[] = [];
  expect(runNow(onePassLogEventSteps(body, WIDE, (event) => onePass.push(event)))).toBe(true);
  expect(onePass).toEqual(wire);
  expect(logRecordsToEvents(ExportLogsRequest.parse(json)).map(({ input, sources }) => ({ input, sources })))
    .toEqual(wire.map(({ input, sources }) => ({ input, sources })));
  return wire;
}

/** Each event as it is mapped from a request of its record alone (its path made the one it has in the whole request). */
const eachAlone = (layout: typeof LAYOUT) =>
  layout.flatMap(({ resource, scopes }, r) => scopes.flatMap((scope, s) => RECORDS.flatMap((record, n) => events(request([{ resource, scopes: [scope] }], [record])).map(
    (event) => JSON.parse(JSON.stringify(event).replaceAll('resourceLogs[0].scopeLogs[0].logRecords[0]', `resourceLogs[${r}].scopeLogs[${s}].logRecords[${n}]`)) as MappedEvent,
  ))));

describe("a log record's resource and scope in its mapping", () => {
  it('map each record of a request as it maps alone, whatever resource and scope came before it', () => {
    const expected = eachAlone(LAYOUT);
    // Every known emitter's record is counted under its own emitter only, and the generic event under every unknown one.
    const hashed = expect.stringMatching(/^log:/);
    expect(expected.map((event) => event.input.id)).toEqual([
      'claude-code:req_1', 'claude-code:req_1', hashed, hashed, hashed, 'claude-code:req_1', 'gen_ai:resp-1', hashed, 'claude-code:req_1', hashed,
      'claude-code:req_1',
    ]);
    expect(events(request(LAYOUT, RECORDS))).toEqual(expected);
    // The same with the resources in the other order.
    const reversed = [...LAYOUT].reverse();
    expect(events(request(reversed, RECORDS))).toEqual(eachAlone(reversed));
  });

  it("takes the project, run, step, task, agent and tags from the resource unless the record has its own, the record's tags last", () => {
    const [fromClaude, fromCodex] = events(request([{ resource: LAYOUT[0]!.resource, scopes: [CLAUDE_SCOPE] }, { resource: LAYOUT[2]!.resource, scopes: [CODEX_SCOPE] }], [claude, codex]));
    expect(fromClaude!.input).toMatchObject({
      project: 'resource-project', run_id: 'run-1', task_label: 'record-task', agent_id: 'claude-code', provider: 'anthropic',
      input_tokens: 110, output_tokens: 5, cache_read_tokens: 100,
    });
    expect(fromClaude!.input).not.toHaveProperty('step_id');
    expect(fromClaude!.sources).toMatchObject({
      project: 'tokentally.project', run_id: 'tokentally.run_id', task_label: 'tokentally.task', agent_id: 'resource service.name',
      provider: "Claude Code's provider", id: 'request_id',
    });
    // In the order put: event and scope, the profile's kept, the resource's tags, then the record's (replacing a resource's in its place).
    expect(Object.entries(fromClaude!.input.attributes as object)).toEqual([
      ['event.name', 'api_request'], ['otel.scope.name', CLAUDE_SCOPE.name], ['organization.id', 'org-1'],
      ['team', 'record-team'], ['region', 'eu'], ['only', 'record'],
    ]);
    expect(fromCodex!.input).toMatchObject({ project: 'record-project', step_id: 'step-1', agent_id: 'my-service' });
    expect(fromCodex!.input).not.toHaveProperty('run_id');
    expect(Object.entries(fromCodex!.input.attributes as object)).toEqual([
      ['event.name', 'codex.sse_event'], ['otel.scope.name', CODEX_SCOPE.name], ['originator', 'codex_exec'],
    ]);

    const [nameless] = events(request([{ resource: LAYOUT[3]!.resource, scopes: [CLAUDE_SCOPE] }], [claude]));
    expect(nameless!.input.agent_id).toBe('unknown_service');
    expect(nameless!.input.attributes).toEqual({
      'event.name': 'api_request', 'otel.scope.name': CLAUDE_SCOPE.name, 'organization.id': 'org-1', team: 'record-team', only: 'record',
    });
  });
});
