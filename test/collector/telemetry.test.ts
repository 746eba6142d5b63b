import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.close());

describe('self-telemetry', () => {
  it("serves Prometheus metrics, each app its own: the collector's requests, events by outcome, queue depth, flushes", async () => {
    await svc.ingest('/v1/usage', { events: [{ id: 't1', agent_id: 'a', model: 'm' }, { id: 't1', agent_id: 'a', model: 'm' }, { agent_id: 'a' }] });
    const res = await fetch(`${svc.collectorUrl}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/tokentally_events_total\{outcome="accepted"\} [1-9]/);
    expect(text).toMatch(/tokentally_events_total\{outcome="duplicate"\} [1-9]/);
    expect(text).toMatch(/tokentally_events_total\{outcome="rejected"\} [1-9]/);
    expect(text).toMatch(/tokentally_http_requests_total\{app="collector",route="\/v1\/usage",method="POST",status="200"\} [1-9]/);
    expect(text).toMatch(/^tokentally_queue_events 0$/m);
    expect(text).toMatch(/tokentally_flush_events_count [1-9]/);

    await fetch(`${svc.reportingUrl}/healthz`);
    const reporting = await (await fetch(`${svc.reportingUrl}/metrics`)).text();
    expect(reporting).toMatch(/tokentally_http_requests_total\{app="reporting",route="\/healthz",method="GET",status="200"\} [1-9]/);
    expect(reporting).not.toMatch(/tokentally_events_total|app="collector"/);
  });

  it('answers /healthz and /readyz on both apps', async () => {
    for (const [url, app] of [[svc.collectorUrl, 'collector'], [svc.reportingUrl, 'reporting']] as const) {
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok', app });
      expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready', app });
    }
  });
});
