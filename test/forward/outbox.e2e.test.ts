import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, waitForUrls } from '../../bench/server.js';
import { loadConfig } from '../../src/config.js';
import { startService, type Service } from '../../service/server.js';
import { otlpRequest } from '../support/otlp.js';
import { startReceiver, type Receiver } from '../support/otlp-receiver.js';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';
import { POSTGRES_OPTED_OUT } from '../support/postgres.js';
import { metricValue, until } from '../support/wait.js';
import { scratchDir } from '../support/scratch-dirs.js';

/** The outbox across processes: a kill -9 and restart, several collectors on one PostgreSQL, its bound on both backends. */

let receiver: Receiver | undefined;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
  await receiver?.close();
  receiver = undefined;
});

const spanId = (n: number) => (0x1000_0000_0000_0000n + BigInt(n)).toString(16);
const request = (n: number) => otlpRequest([{ spanId: spanId(n), attributes: { 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 5, 'gen_ai.usage.output_tokens': 1 } }]);

async function post(collectorUrl: string, n: number): Promise<void> {
  const res = await fetch(`${collectorUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request(n)) });
  expect(res.status, await res.text()).toBe(200);
}

/** The span ids the upstream got, hex, in arrival order. */
const arrivedIds = () => receiver!.received.flatMap((r) => (r.resources as any[]).flatMap((res) => res.scopeSpans.flatMap((s: any) => s.spans.map((sp: any) => Buffer.from(sp.spanId, 'base64').toString('hex')))));

describe('the forward outbox', () => {
  it('resumes after kill -9: every acknowledged request reaches the upstream once it is back', async () => {
    receiver = await startReceiver();
    let down = true;
    receiver.answer = () => (down ? { status: 503 } : 'ok');
    const db = join(scratchDir('tokentally-forward-'), 'usage.db');
    const env = { DATABASE_URL: db, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', FORWARD_OTLP_ENDPOINT: receiver.httpUrl };
    const first = runCli(['serve'], env);
    const { collector } = await waitForUrls(first);
    for (let n = 0; n < 200; n++) await post(collector, n);
    expect(await metricValue(collector, 'tokentally_forward_forwarded_total{signal="traces"}')).toBeUndefined();
    first.child.kill('SIGKILL');
    await first.exited;

    down = false;
    const again = runCli(['serve'], env);
    cleanups.push(async () => {
      again.child.kill('SIGTERM');
      await again.exited;
    });
    await waitForUrls(again);
    await until(() => arrivedIds().length >= 200, 'all 200 requests at the upstream', 60_000);
    expect(arrivedIds()).toEqual(Array.from({ length: 200 }, (_, n) => spanId(n)));
  }, 120_000);

  it.skipIf(POSTGRES_OPTED_OUT)('has each entry delivered by exactly one of several collectors on one PostgreSQL', async () => {
    receiver = await startReceiver();
    const a = await startTestService({ backend: 'postgres', env: { FORWARD_OTLP_ENDPOINT: receiver.httpUrl } });
    cleanups.push(() => a.close());
    const b: Service = await startService(
      loadConfig({ DATABASE_URL: a.databaseUrl, COLLECTOR_PORT: '0', REPORTING_PORT: '0', GRPC_PORT: '0', FORWARD_OTLP_ENDPOINT: receiver.httpUrl }),
      { collector: true, reporting: false },
    );
    cleanups.push(() => b.stop());
    await Promise.all([0, 1, 2, 3].map(async (client) => {
      for (let n = client; n < 400; n += 4) await post(n % 2 === 0 ? a.collectorUrl : b.collectorUrl!, n);
    }));
    await until(() => arrivedIds().length >= 400, 'all 400 requests at the upstream', 60_000);
    // Give a second delivery, were there one, the time to arrive.
    await until(async () => (await metricValue(a.collectorUrl, 'tokentally_forward_outbox_entries')) === 0, 'an empty outbox');
    const ids = arrivedIds();
    expect(ids).toHaveLength(400);
    expect(new Set(ids).size).toBe(400);
  }, 120_000);

  it.each(BACKENDS)('stays within FORWARD_OUTBOX_MAX_BYTES on %s while the upstream is down', async (backend) => {
    receiver = await startReceiver();
    receiver.answer = () => ({ status: 503 });
    const svc: TestService = await startTestService({ backend, env: { FORWARD_OTLP_ENDPOINT: receiver.httpUrl, FORWARD_OUTBOX_MAX_BYTES: '5000' } });
    cleanups.push(() => svc.close());
    // Metrics are per process, and every test of this file shares one.
    const droppedBefore = (await metricValue(svc.collectorUrl, 'tokentally_forward_dropped_total{signal="any",reason="outbox_full"}')) ?? 0;
    for (let n = 0; n < 40; n++) await post(svc.collectorUrl, n);
    const metric = async (name: string) => (await metricValue(svc.collectorUrl, name)) ?? NaN;
    let left = NaN;
    await until(async () => {
      const dropped = (await metric('tokentally_forward_dropped_total{signal="any",reason="outbox_full"}')) - droppedBefore;
      left = await metric('tokentally_forward_outbox_entries');
      return dropped > 0 && dropped + left === 40 && (await metric('tokentally_forward_outbox_bytes')) <= 5000;
    }, 'the oldest entries dropped and the outbox within its bound');
    receiver.answer = () => 'ok';
    // What is left is the newest, in order.
    await until(() => arrivedIds().length === left, 'the rest delivered', 20_000);
    expect(arrivedIds()).toEqual(Array.from({ length: left }, (_, i) => spanId(40 - left + i)));
  }, 60_000);
});
