import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Signal } from '../../collector/otlp/receive.js';
import { sumUsage, type Usage } from '../agents/usage.js';

/**
 * What the real coding-agent CLIs sent (test/fixtures/agents, written by test/agents/capture.ts):
 * every export request of one run as OTLP/JSON, and the usage the fake model answered each call with.
 */

const DIR = join(import.meta.dirname, '..', 'fixtures', 'agents');

export interface AgentFixture {
  file: string;
  cli: 'claude-code' | 'codex' | 'gemini-cli';
  requests: { seq: number; signal: Signal; body: unknown }[];
  modelCalls: { model: string; usage: Usage }[];
}

/** The capture files, one per CLI and protocol it was run over. */
export const AGENT_FIXTURES: string[] = readdirSync(DIR).filter((f) => /-(grpc|http-json|http-protobuf)\.json$/.test(f)).sort();

export function loadAgentFixture(file: string): AgentFixture {
  return { file, ...(JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Omit<AgentFixture, 'file'>) };
}

/** The totals a report must show after the fixture's exports: one event per model call, tokentally's terms. */
export function expectedTotals(fixture: AgentFixture) {
  const usage = sumUsage(fixture.modelCalls.map((c) => c.usage));
  return {
    events: fixture.modelCalls.length,
    input_tokens: usage.input,
    cache_read_tokens: usage.cacheRead,
    cache_write_tokens: usage.cacheWrite,
    output_tokens: usage.output,
    reasoning_tokens: usage.reasoning ?? 0,
  };
}
