import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';
import { until } from '../support/wait.js';

/**
 * The reporting app's JSON bodies (Grafana queries, budgets, project edits) are read as the
 * collector's are: in the process's one decoding budget, given up when they stop coming. Before,
 * Hono buffered each up to MAX_BODY_BYTES outside any budget, and a body that stopped coming held
 * its request until Node's 300 s request timeout.
 */
describe("the reporting app's request bodies", () => {
  let svc: TestService;
  const open: Socket[] = [];

  beforeAll(async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: '600000', MAX_DECODED_BODY_BYTES: '600000', MAX_DECODED_BYTES_IN_FLIGHT: '1000000', BODY_IDLE_TIMEOUT_MS: '1500' } });
  });
  afterAll(async () => {
    for (const socket of open) socket.destroy();
    await svc.close();
  });

  /** Sends the headers and the first bytes of a POST to `url`'s `path`, never the rest. */
  async function stalled(url: string, path: string, length: number, first: string): Promise<Socket> {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => {});
    open.push(socket);
    await new Promise((sent) => socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${first}`, sent));
    return socket;
  }

  const query = (body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(`${svc.reportingUrl}/grafana/metrics`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  it('hold the decoding budget the collector holds: a body with no room left → 429 decoding_busy, and room again once the others leave', async () => {
    const slow: Socket[] = [];
    for (let i = 0; i < 2; i++) slow.push(await stalled(svc.collectorUrl, '/v1/usage', 500_000, `{"events": [${' '.repeat(440_000)}`));
    await new Promise((read) => setTimeout(read, 500));
    // 880 KB held of 1 MB.
    const refused = await query(JSON.stringify({}).padEnd(150_000, ' '));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('decoding_busy');
    for (const socket of slow) socket.destroy();
    await until(async () => (await query(JSON.stringify({}).padEnd(150_000, ' '))).status === 200, 'the budget given back');
  });

  it('a body that stops coming → 408 body_timeout after BODY_IDLE_TIMEOUT_MS, connection closed', async () => {
    const socket = await stalled(svc.reportingUrl, '/grafana/metrics', 1000, '{"');
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (data: Buffer) => (text += data.toString('latin1'))).on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(answer).toMatch(/BODY_IDLE_TIMEOUT_MS/);
  });

  it('a chunked body past MAX_BODY_BYTES → 413; a gzip body is inflated; another encoding → 415', async () => {
    const chunked = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 7; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(100_000)));
        controller.close();
      },
    });
    const tooLarge = await fetch(`${svc.reportingUrl}/grafana/metrics`, { method: 'POST', body: chunked, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    expect(tooLarge.status).toBe(413);
    expect((await query(gzipSync(JSON.stringify({ metric: 'cost_usd' })), { 'content-encoding': 'gzip' })).status).toBe(200);
    const br = await query('{}', { 'content-encoding': 'br' });
    expect(br.status).toBe(415);
    expect(((await br.json()) as { error: { code: string } }).error.code).toBe('unsupported_encoding');
  });
});
