import { request } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { genAiTraceBodies, mixedTraceBodies } from '../../bench/otlp.js';
import { runCli, stop, waitForListening, type Running } from '../../bench/server.js';
import { scratchDir } from '../support/scratch-dirs.js';

/**
 * A request at the span limit does not hold the event loop (issue 17: no request more than ~50 ms):
 * its decoding, mapping and validation run in slices (collector/otlp/steps.ts), so /healthz keeps
 * answering while it is worked on. Held in one piece, 10,000 GenAI spans kept the loop for 0.3-1.8 s
 * on this 2-core machine, and longer when loaded, and every probe sent meanwhile waited that long.
 */

let run: Running;
let collector: string;

beforeAll(async () => {
  run = runCli(['serve'], { DATABASE_URL: join(scratchDir('tokentally-loop-'), 'usage.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
  ({ collector } = await waitForListening(run, ['collector', 'reporting', 'OTLP/gRPC']));
});
afterAll(() => stop(run));

/** One request on its own connection; resolves with its status. */
function send(method: 'GET' | 'POST', url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends the export while probing /healthz one probe after another; its status, its time and the slowest probe. */
async function exportWhileProbing(body: Buffer): Promise<{ status: number; ms: number; slowestProbeMs: number; probes: number }> {
  const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' };
  const started = performance.now();
  let done = false;
  const answer = send('POST', `${collector}/v1/traces`, gzipSync(body), headers).finally(() => (done = true));
  let slowestProbeMs = 0;
  let probes = 0;
  while (!done) {
    const probe = performance.now();
    expect(await send('GET', `${collector}/healthz`)).toBe(200);
    slowestProbeMs = Math.max(slowestProbeMs, performance.now() - probe);
    probes++;
  }
  const status = await answer;
  return { status, ms: performance.now() - started, slowestProbeMs, probes };
}

describe('an OTLP request at the span limit', () => {
  it.each([
    ['10,000 GenAI spans, each an event', genAiTraceBodies(10_000)(1)],
    ['10,000 spans of agent traces, 1 in 20 an event', mixedTraceBodies(10_000)(1)],
  ])('%s: /healthz answers throughout', async (_name, body) => {
    const outcome = await exportWhileProbing(body);
    expect(outcome.status).toBe(200);
    // Generous for a loaded 2-core machine, where a slice of 10 ms can stretch by the scheduler and
    // the collector's GC, yet far below the request's own time: held in one piece, the slowest probe
    // would wait about as long as the request took.
    expect(outcome.probes).toBeGreaterThan(3);
    expect(outcome.slowestProbeMs).toBeLessThan(Math.min(1_000, outcome.ms / 3));
  }, 60_000);
});
