import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { peakRssMB, runCli, stop, waitForListening, type Running } from '../../bench/server.js';
import { send, type Answer } from './hostile.js';
import { scratchDir } from './scratch-dirs.js';

/** Generous bounds for a loaded two-core machine; before the limits these cases took 16-90 s and gigabytes. */
const ANSWER_WITHIN_MS = 5_000;
const HEALTHZ_WITHIN_MS = 2_000;
export const PEAK_GROWTH_MB = 300;

/** How long an answer took. */
export interface Timing {
  ms: number;
  /** The slowest /healthz answer while the request was in flight. */
  healthzMs: number;
}

export interface HostileService {
  run: Running;
  collector: string;
  reporting: string;
  grpcUrl: string;
  /** A POST to the collector. */
  post(path: string, body: Buffer, headers: Record<string, string>): Promise<Answer>;
  /** Sends the request while probing /healthz; the answer, its time and the worst probe. */
  observe<A>(sending: () => Promise<A>): Promise<A & Timing>;
  /** Answered in time (`answerWithinMs`, by default ANSWER_WITHIN_MS), /healthz answered throughout, and the process's peak memory grew little in this test. */
  expectBounded(outcome: Timing, answerWithinMs?: number): void;
}

/**
 * A real `tokentally serve` with its default limits for the file that calls this (started before
 * its tests, stopped after), and the checks the hostile-input suite makes against it.
 */
export function hostileService(): HostileService {
  let baselinePeakMB = 0;
  const service: HostileService = {
    run: undefined as unknown as Running,
    collector: '',
    reporting: '',
    grpcUrl: '',
    post: (path, body, headers) => send('POST', service.collector + path, body, headers),
    async observe(sending) {
      const started = performance.now();
      let finished = false;
      const answer = sending().then((res) => {
        finished = true;
        return { ...res, ms: performance.now() - started };
      });
      let healthzMs = 0;
      while (!finished) {
        const probe = performance.now();
        expect((await send('GET', `${service.collector}/healthz`)).status).toBe(200);
        healthzMs = Math.max(healthzMs, performance.now() - probe);
      }
      return { ...(await answer), healthzMs };
    },
    expectBounded(outcome, answerWithinMs = ANSWER_WITHIN_MS) {
      expect(outcome.ms).toBeLessThan(answerWithinMs);
      expect(outcome.healthzMs).toBeLessThan(HEALTHZ_WITHIN_MS);
      expect(peakRssMB(service.run) - baselinePeakMB).toBeLessThan(PEAK_GROWTH_MB);
    },
  };
  beforeAll(async () => {
    service.run = runCli(['serve'], { DATABASE_URL: join(scratchDir('tokentally-hostile-'), 'usage.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
    const urls = await waitForListening(service.run, ['collector', 'reporting', 'OTLP/gRPC']);
    Object.assign(service, { collector: urls.collector, reporting: urls.reporting, grpcUrl: urls['OTLP/gRPC'] });
    // Warm up the routes once, so the baseline holds what every request path loads.
    const warm = await service.post('/v1/usage', Buffer.from(JSON.stringify({ events: [{ agent_id: 'warm', model: 'm', input_tokens: 1 }] })), { 'content-type': 'application/json' });
    expect(warm.status).toBe(200);
  });
  // Each test's growth from where the process stands when it starts: the kernel's peak (VmHWM) is
  // reset to the current RSS ("5" to clear_refs), so one test's peak is not charged to the next.
  beforeEach(() => {
    writeFileSync(`/proc/${service.run.child.pid}/clear_refs`, '5');
    baselinePeakMB = peakRssMB(service.run);
  });
  afterAll(() => stop(service.run));
  return service;
}
