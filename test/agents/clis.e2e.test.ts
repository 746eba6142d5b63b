import { describe, expect, it } from 'vitest';
import { callExport, grpcClient } from '../support/grpc.js';
import { startTestService, type TestService } from '../support/service.js';
import { INSTALL_COMMAND, missingPackages, namespaceProblem } from './prerequisites.js';
import { sumUsage } from './usage.js';

/**
 * The published Claude Code, Codex CLI and Gemini CLI binaries (test/agents/package.json), each run
 * in a loopback-only network namespace against the fake model server, with its OpenTelemetry
 * export pointed at a real tokentally over every protocol it supports. One tool-call turn per run;
 * tokentally must hold exactly one event per model call, with the usage the fake model answered.
 * Every export passes through a recording hop (otlp-capture.ts, `forward`), so each can be sent a
 * second time: by the CLI itself where it retries (OTLP/HTTP from Claude Code and Gemini CLI, whose
 * first answer to each export is lost on purpose), and by the test for every export of every run.
 */

const problem = namespaceProblem();
const missing = problem ? [] : missingPackages();

// The CLIs are not the project's dependencies: a developer's `npm install && npm test` passes without
// them and says how to get them; CI (which installs them) fails when they are missing.
const why = problem ?? (missing.length > 0 ? `${missing.join(', ')} not installed in test/agents/node_modules (${INSTALL_COMMAND})` : undefined);
if (why && !process.env.CI) {
  console.warn(`agent CLI tests skipped: ${why}`);
  describe.skip(`the published agent CLIs (skipped: ${why})`, () => it('need the CLIs and a loopback-only network namespace', () => {}));
} else if (why) {
  describe('the published agent CLIs', () => it('have what they need to run', () => expect.fail(`${why}; .ci/run must provide it before npm test`)));
} else {
  const { CLIS } = await import('./clis.js');
  const { runCli } = await import('./run-cli.js');
  type RunResult = Awaited<ReturnType<typeof runCli>>;
  type CapturedRequest = RunResult['otlp'][number];

  /** The fake model's kind of answer to each call of the scenario, in order (Gemini CLI's routing call first). */
  const CALLS = { 'claude-code': ['tool_call', 'final'], codex: ['tool_call', 'final'], 'gemini-cli': ['side', 'tool_call', 'final'] };
  /** Resource `service.name`, which becomes the events' agent_id. */
  const AGENT = { 'claude-code': 'claude-code', codex: 'codex_exec', 'gemini-cli': 'gemini-cli' };
  /** How each run is reported: cost as the CLI reported it (Claude Code) or priced from the table. */
  const COST_SOURCE = { 'claude-code': 'reported', codex: 'computed', 'gemini-cli': 'computed' };
  /**
   * The session the CLI says it ran: Claude Code's and Gemini CLI's JSON output (Gemini CLI asked
   * for it with `--output-format json`, which changes nothing it exports), Codex's banner on stderr.
   */
  const sessionOf = (cli: string, result: RunResult): string | undefined =>
    cli === 'codex' ? /^session id: (\S+)$/m.exec(result.stderr)?.[1] : (JSON.parse(result.stdout) as { session_id?: string }).session_id;
  /** Where the CLIs retry an export answered 503 (FINDINGS): only OTLP/HTTP, and not Codex. */
  const retries = (cli: string, protocol: string) => protocol !== 'grpc' && cli !== 'codex';

  /** An export tokentally took whole: 200 / OK, and an empty answer (no partialSuccess). */
  const accepted = (request: CapturedRequest) => ({
    answered: request.transport === 'grpc' ? 0 : 200,
    body: request.transport === 'http' && !String(request.contentType).includes('protobuf') ? '{}' : '',
  });

  /** Sends one recorded export to tokentally again, exactly as it was (a retry). */
  async function resend(svc: TestService, request: CapturedRequest): Promise<{ answered: number; body: string }> {
    if (request.transport === 'grpc') {
      const client = grpcClient(svc.grpcUrl, request.compressed ? { compression: 'gzip' } : {});
      try {
        const answer = await callExport(client, request.body, {}, request.path);
        return { answered: answer.code, body: answer.details };
      } finally {
        client.close();
      }
    }
    const res = await fetch(svc.collectorUrl + request.path, {
      method: 'POST',
      headers: { 'content-type': request.contentType!, ...(request.contentEncoding ? { 'content-encoding': request.contentEncoding } : {}) },
      body: request.body,
    });
    return { answered: res.status, body: await res.text() };
  }

  describe.each(CLIS)('$name $version', (spec) => {
    it.each(spec.protocols)('over %s: one event per model call with its usage exactly, and a retried export counted once', async (protocol) => {
      const svc = await startTestService();
      try {
        const cliRetries = retries(spec.name, protocol);
        const result = await runCli(spec, protocol, {
          isolate: true,
          forward: { httpUrl: svc.collectorUrl, grpcUrl: svc.grpcUrl },
          loseFirstAnswers: cliRetries,
          timeoutMs: 90_000,
          adjust: (launch) => (spec.name === 'gemini-cli' ? { ...launch, args: [...launch.args, '--output-format', 'json'] } : launch),
        });
        const context = `exit ${result.exitCode ?? result.signal}\nstdout: ${result.stdout.slice(-2000)}\nstderr: ${result.stderr.slice(-2000)}`;
        expect(result.exitCode, context).toBe(0);
        expect(result.modelCalls.map((c) => c.kind), context).toEqual(CALLS[spec.name]);
        expect(result.unhandledModelRequests.filter((r) => !r.path.endsWith('/analytics/codex/turn-costs'))).toEqual([]);

        // Every export reached tokentally and was taken whole.
        expect(result.otlp.map((r) => r.signal)).toEqual(expect.arrayContaining(['logs', 'traces', 'metrics']));
        for (const request of result.otlp) {
          expect({ answered: request.upstream?.answered, body: request.upstream?.body.toString() }, `${request.transport} ${request.path}`).toEqual(accepted(request));
        }
        if (cliRetries) {
          // Each export was answered 503 once and came again, byte for byte: tokentally got it twice.
          const lost = result.otlp.filter((r) => r.answered === 503);
          expect(lost.map((r) => r.signal)).toEqual(expect.arrayContaining(['logs']));
          for (const first of lost) expect(result.otlp.some((r) => r.seq > first.seq && r.answered === 200 && r.path === first.path && r.body.equals(first.body)), `${first.path} #${first.seq} resent`).toBe(true);
        }

        const from = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
        const to = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
        const totals = async () => (await svc.report(`/v1/reports/usage?from=${from}&to=${to}`)).body.totals;
        const session = sessionOf(spec.name, result);
        expect(session, context).toMatch(/^[0-9a-f-]{36}$/);
        // The run's events, found by the session the CLI printed.
        const events = async () => ((await svc.report(`/v1/events?limit=100&session=${session}`)).body.events as Record<string, any>[]).sort((a, b) => a.input_tokens - b.input_tokens);

        const usage = sumUsage(result.modelCalls.map((c) => c.usage));
        const expected = {
          events: result.modelCalls.length,
          input_tokens: usage.input,
          cache_read_tokens: usage.cacheRead,
          cache_write_tokens: usage.cacheWrite,
          output_tokens: usage.output,
          reasoning_tokens: usage.reasoning ?? 0,
        };
        const before = { totals: await totals(), events: await events() };
        expect(before.totals).toMatchObject(expected);

        // Each event is one model call: its model and counts, the CLI's agent and session.
        const calls = [...result.modelCalls].sort((a, b) => a.usage.input - b.usage.input);
        expect(before.events).toEqual(calls.map((call) => expect.objectContaining({
          // Claude Code's records carry the API's request-id; the others are hashed.
          id: call.requestId ? `claude-code:${call.requestId}` : expect.stringMatching(/^log:[0-9a-f]{12}-[0-9a-f]{32}$/),
          agent_id: AGENT[spec.name],
          model: call.model,
          input_tokens: call.usage.input,
          cache_read_tokens: call.usage.cacheRead,
          cache_write_tokens: call.usage.cacheWrite,
          output_tokens: call.usage.output,
          reasoning_tokens: call.usage.reasoning ?? 0,
          session_id: session,
          cost_source: COST_SOURCE[spec.name],
        })));
        if (spec.name === 'claude-code') {
          // Claude Code's own figure for the run, as its JSON output gives it.
          const reported = (JSON.parse(result.stdout) as { total_cost_usd: number }).total_cost_usd;
          expect(reported).toBeGreaterThan(0);
          expect(before.totals).toMatchObject({ cost_usd: expect.closeTo(reported, 9), cost_reported_usd: expect.closeTo(reported, 9) });
        }

        // A retry of every export, as the exporter would send it: nothing changes.
        for (const request of result.otlp) expect(await resend(svc, request), `${request.transport} ${request.path} #${request.seq} again`).toEqual(accepted(request));
        expect(await totals()).toEqual(before.totals);
        expect(await events()).toEqual(before.events);
        expect(await svc.store.verify()).toMatchObject({ ok: true });
      } finally {
        await svc.close();
      }
    }, 180_000);
  });
}
