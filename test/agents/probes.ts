import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { claudeCode, codex, geminiCli, type CliSpec, type Launch, type Protocol } from './clis.js';
import type { CapturedRequest } from './otlp-capture.js';
import { decodeRequest, plainBody } from './otlp-decode.js';
import { FIXTURES_DIR } from './paths.js';
import { assertLoopbackOnly, dnsComesHere, runCli, type RunResult } from './run-cli.js';

/**
 * Checks of what AGENT-TELEMETRY.md and the CLIs' docs say about defaults and switches, each a
 * variation of the capture run: where a CLI sends with an endpoint or protocol left out (the capture
 * receiver listens on the default ports 4318 and 4317), what it looks up when a vendor switch is
 * left out, whether it retries an export answered 503 / UNAVAILABLE and with the same bytes.
 * Writes test/fixtures/agents/probes.json. Run through isolated.sh: `npm run probes`.
 */

interface Probe {
  cli: CliSpec;
  protocol: Protocol;
  name: string;
  /** The claim the probe checks. */
  question: string;
  adjust?: (launch: Launch) => Launch;
  failFirst?: number;
  /** Anything else the answer needs, read from the decoded OTLP/JSON bodies. */
  inspect?: (bodies: any[]) => unknown;
  /** Where the capture receiver listens; the OTLP defaults unless a probe swaps them. */
  ports?: { http: number; grpc: number };
}

const without = (...names: string[]) => (launch: Launch): Launch => ({
  ...launch,
  env: Object.fromEntries(Object.entries(launch.env).filter(([k]) => !names.includes(k))),
});
const withEnv = (extra: Record<string, string>) => (launch: Launch): Launch => ({ ...launch, env: { ...launch.env, ...extra } });
const codexConfig = (edit: (lines: string[]) => string[]) => (launch: Launch): Launch => ({
  ...launch,
  files: { ...launch.files, '.codex/config.toml': edit(launch.files['.codex/config.toml']!.split('\n')).join('\n') },
});
const geminiSettings = (edit: (settings: any) => void) => (launch: Launch): Launch => {
  const settings = JSON.parse(launch.files['.gemini/settings.json']!);
  edit(settings);
  return { ...launch, files: { ...launch.files, '.gemini/settings.json': JSON.stringify(settings, null, 2) } };
};
/** Drops the TOML lines starting with one of `prefixes`, and a `[table]` header left with no keys. */
const dropLines = (...prefixes: string[]) => (lines: string[]) =>
  lines.filter((line) => !prefixes.some((p) => line.startsWith(p))).filter((line, i, all) => !(line.startsWith('[') && (all[i + 1] ?? '').trim() === ''));

const PROBES: Probe[] = [
  { cli: claudeCode, protocol: 'http-protobuf', name: 'no-endpoint-no-protocol', question: 'With neither OTEL_EXPORTER_OTLP_ENDPOINT nor _PROTOCOL set, does Claude Code export anything?', adjust: without('OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL') },
  { cli: claudeCode, protocol: 'http-protobuf', name: 'endpoint-only', question: 'With only the endpoint set, which protocol does Claude Code use?', adjust: without('OTEL_EXPORTER_OTLP_PROTOCOL') },
  { cli: claudeCode, protocol: 'grpc', name: 'grpc-protocol-only', question: 'With only OTEL_EXPORTER_OTLP_PROTOCOL=grpc, does Claude Code send to localhost:4317?', adjust: without('OTEL_EXPORTER_OTLP_ENDPOINT') },
  { cli: claudeCode, protocol: 'http-json', name: 'http-json-protocol-only', question: 'With only OTEL_EXPORTER_OTLP_PROTOCOL=http/json, does Claude Code send to localhost:4318?', adjust: without('OTEL_EXPORTER_OTLP_ENDPOINT') },
  { cli: claudeCode, protocol: 'http-json', name: 'traces-without-beta', question: 'Does Claude Code export traces with OTEL_TRACES_EXPORTER=otlp but without CLAUDE_CODE_ENHANCED_TELEMETRY_BETA?', adjust: without('CLAUDE_CODE_ENHANCED_TELEMETRY_BETA') },
  { cli: claudeCode, protocol: 'http-json', name: 'resource-attributes', question: 'Are OTEL_RESOURCE_ATTRIBUTES copied onto each log record as attributes?', adjust: withEnv({ OTEL_RESOURCE_ATTRIBUTES: 'team.id=probe-team,cost_center=probe-cc' }),
    inspect: (bodies) => ({
      logRecords: logRecords(bodies).length,
      logRecordsWithTeamIdAttribute: logRecords(bodies).filter((lr) => keys(lr.attributes).includes('team.id')).length,
      logResourcesWithTeamId: bodies.flatMap((b) => b.resourceLogs ?? []).filter((rl: any) => keys(rl.resource?.attributes).includes('team.id')).length,
    }) },
  { cli: claudeCode, protocol: 'http-json', name: 'vendor-switches-off', question: 'Which hosts does Claude Code look up when the vendor switches (DISABLE_*, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC) are left out?', adjust: without('DISABLE_AUTOUPDATER', 'DISABLE_TELEMETRY', 'DISABLE_ERROR_REPORTING', 'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC') },
  { cli: codex, protocol: 'http-protobuf', name: 'no-metrics-exporter', question: 'Without [otel] metrics_exporter, where do Codex metrics go?', adjust: codexConfig(dropLines('metrics_exporter')) },
  { cli: codex, protocol: 'http-protobuf', name: 'no-metrics-exporter-analytics-on', question: 'Without metrics_exporter and with [analytics] left at its default, does Codex look up a Statsig host?', adjust: codexConfig(dropLines('metrics_exporter', 'enabled = false')) },
  { cli: codex, protocol: 'http-protobuf', name: 'logs-exporter-only', question: 'With only [otel] exporter set, does Codex send only logs?', adjust: codexConfig(dropLines('metrics_exporter', 'trace_exporter')) },
  { cli: codex, protocol: 'http-protobuf', name: 'vendor-switches-off', question: 'Which hosts does Codex look up without check_for_update_on_startup, [analytics], [feedback] and features.plugins = false?', adjust: codexConfig(dropLines('check_for_update_on_startup', 'enabled = false', 'plugins = false')) },
  { cli: codex, protocol: 'http-protobuf', name: 'only-plugins-off', question: 'With features.plugins = false alone (no update, analytics or feedback switches), does Codex look anything up?', adjust: codexConfig(dropLines('check_for_update_on_startup', 'enabled = false')) },
  { cli: codex, protocol: 'http-protobuf', name: 'plugins-on', question: 'Is features.plugins = false what stops the GitHub and ChatGPT lookups?', adjust: codexConfig(dropLines('plugins = false')) },
  { cli: geminiCli, protocol: 'grpc', name: 'no-endpoint-no-protocol', question: 'With telemetry enabled and no otlpEndpoint/otlpProtocol, does Gemini CLI send gzip gRPC to localhost:4317?', adjust: geminiSettings((s) => { delete s.telemetry.otlpEndpoint; delete s.telemetry.otlpProtocol; }) },
  // The capture's HTTP side listens on 4317 here: Gemini CLI's default endpoint is the gRPC port.
  { cli: geminiCli, protocol: 'http-json', name: 'http-protocol-no-endpoint', question: 'With otlpProtocol "http" and no endpoint, where does Gemini CLI send?', adjust: geminiSettings((s) => { delete s.telemetry.otlpEndpoint; }), ports: { http: 4317, grpc: 4318 } },
  { cli: geminiCli, protocol: 'http-json', name: 'traces-setting-off', question: 'Without telemetry.traces, do llm_call spans still carry usage?', adjust: geminiSettings((s) => { delete s.telemetry.traces; }),
    inspect: (bodies) => spans(bodies).filter((span) => span.name === 'llm_call').map((span) => keys(span.attributes).filter((k) => k.startsWith('gen_ai.usage'))) },
  { cli: geminiCli, protocol: 'http-json', name: 'vendor-switches-off', question: 'Which hosts does Gemini CLI look up without usageStatisticsEnabled: false and the auto-update settings?', adjust: geminiSettings((s) => { delete s.privacy; delete s.general; }) },
  ...[claudeCode, codex, geminiCli].flatMap((cli) =>
    cli.protocols.map((protocol): Probe => ({ cli, protocol, name: 'retry', question: `Does ${cli.name} retry an export answered 503 / UNAVAILABLE, and with the same bytes?`, failFirst: 1 })),
  ),
];

const { values } = parseArgs({ options: { cli: { type: 'string', multiple: true }, probe: { type: 'string', multiple: true }, out: { type: 'string' } } });
const OUT = values.out ?? FIXTURES_DIR;

assertLoopbackOnly();
if (!dnsComesHere()) throw new Error('/etc/resolv.conf does not name 127.0.0.1: run through isolated.sh');
mkdirSync(OUT, { recursive: true });

function summarize(probe: Probe, result: RunResult) {
  return {
    cli: probe.cli.name,
    version: probe.cli.version,
    probe: probe.name,
    question: probe.question,
    observed: {
      exitCode: result.exitCode,
      modelCalls: result.modelCalls.length,
      dnsLookups: [...new Set((result.dnsQueries ?? []).map((q) => q.name))],
      exports: result.otlp.map((r) => ({
        transport: r.transport,
        port: Number(new URL(r.transport === 'grpc' ? `http://${r.headers[':authority']}` : `http://${r.headers.host}`).port),
        path: r.path,
        contentType: r.contentType,
        contentEncoding: r.contentEncoding,
        compressed: r.compressed,
        answered: r.answered,
        atMs: r.atMs,
        sha256: createHash('sha256').update(plainBody(r)).digest('hex').slice(0, 16),
        records: countRecords(r),
      })),
      ...(probe.failFirst ? { retries: retriesOf(result.otlp) } : {}),
      ...(probe.inspect ? { inspected: probe.inspect(result.otlp.map(plainJson)) } : {}),
    },
  };
}

/** Per failed request: whether a later request to the same path carried the same bytes, and after how long. */
function retriesOf(requests: CapturedRequest[]) {
  return requests
    .filter((r) => r.answered !== 200 && r.answered !== 0)
    .map((failed) => {
      const hash = createHash('sha256').update(plainBody(failed)).digest('hex');
      const later = requests.filter((r) => r.path === failed.path && r.seq > failed.seq);
      const same = later.find((r) => createHash('sha256').update(plainBody(r)).digest('hex') === hash);
      return { path: failed.path, retried: Boolean(same), afterMs: same ? same.atMs - failed.atMs : null, laterRequestsToPath: later.length };
    });
}

/** The decoded body with lossless-json numbers turned back into plain JSON values. */
function plainJson(request: CapturedRequest): any {
  return JSON.parse(JSON.stringify(decodeRequest(request), (_k, v) => (v && typeof v === 'object' && 'isLosslessNumber' in v ? Number(v) : v)));
}

const keys = (attributes: any[] | undefined): string[] => (attributes ?? []).map((a) => a.key);
const logRecords = (bodies: any[]): any[] => bodies.flatMap((b) => b.resourceLogs ?? []).flatMap((rl) => rl.scopeLogs ?? []).flatMap((sl) => sl.logRecords ?? []);
const spans = (bodies: any[]): any[] => bodies.flatMap((b) => b.resourceSpans ?? []).flatMap((rs) => rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []);

/** How many log records (by event.name), spans and metrics a request holds. */
function countRecords(request: CapturedRequest): Record<string, number> {
  const body = plainJson(request);
  const counts: Record<string, number> = {};
  const add = (key: string) => (counts[key] = (counts[key] ?? 0) + 1);
  for (const lr of logRecords([body])) add(`log ${(lr.attributes ?? []).find((a: any) => a.key === 'event.name')?.value?.stringValue ?? '(no event.name)'}`);
  if (spans([body]).length) counts.spans = spans([body]).length;
  for (const rm of body.resourceMetrics ?? []) for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) add(`metric ${m.name}`);
  return counts;
}

const results = [];
for (const probe of PROBES.filter((p) => (!values.cli || values.cli.includes(p.cli.name)) && (!values.probe || values.probe.includes(p.name)))) {
  process.stdout.write(`${probe.cli.name} ${probe.name} (${probe.protocol}) … `);
  const result = await runCli(probe.cli, probe.protocol, { adjust: probe.adjust, failFirst: probe.failFirst, ports: probe.ports ?? { http: 4318, grpc: 4317 }, recordDns: true });
  const summary = summarize(probe, result);
  results.push(summary);
  process.stdout.write(`${JSON.stringify(summary.observed)}\n`);
}
writeFileSync(join(OUT, 'probes.json'), `${JSON.stringify({ versions: Object.fromEntries([claudeCode, codex, geminiCli].map((c) => [c.name, c.version])), probes: results }, null, 2)}\n`);
