import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';
import { until } from '../support/wait.js';

/**
 * Bodies still arriving hold memory, so they count against MAX_DECODED_BYTES_IN_FLIGHT as their bytes
 * come: clients that send slowly (or stop just short of the end) cannot together hold more than it,
 * and a length declared but never sent holds nothing. Before, only a body fully received was
 * counted, and 400 such clients held 2 GB; then a declared length was held whole before its bytes
 * came, and a few clients that sent nothing kept everyone else at 429.
 */
describe('the decoding budget counts bodies still arriving', () => {
  let svc: TestService;
  const open: Socket[] = [];

  beforeAll(async () => {
    svc = await startTestService({ env: { MAX_BODY_BYTES: '600000', MAX_DECODED_BODY_BYTES: '600000', MAX_DECODED_BYTES_IN_FLIGHT: '1000000' } });
  });
  afterAll(async () => {
    for (const socket of open) socket.destroy();
    await svc.close();
  });

  /**
   * A request whose headers and first bytes are sent, the rest never; resolves once the service has
   * had time to read what was sent (a request that came while it read could take the budget first).
   */
  async function stalled(headers: string, first: string): Promise<Socket> {
    const socket = connect(Number(new URL(svc.collectorUrl).port), '127.0.0.1');
    socket.on('error', () => {});
    open.push(socket);
    await new Promise((sent) => socket.write(`POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${first}`, sent));
    await new Promise((read) => setTimeout(read, 1000));
    return socket;
  }

  /** A valid batch of one event, padded with whitespace to `bytes`. */
  const probe = async (bytes: number) => {
    const json = JSON.stringify({ events: [{ agent_id: 'a', model: 'm', input_tokens: 1 }] });
    const res = await svc.ingest('/v1/usage', json.padEnd(bytes, ' '));
    return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
  };

  it('by the bytes that have come; a declared length with no room left is refused before it is read', async () => {
    const slow = [];
    for (let i = 0; i < 2; i++) slow.push(await stalled('Content-Length: 500000\r\n', `{"events": [${' '.repeat(440_000)}`));
    // 880 KB held of 1 MB: a declared 150 KB has no room, 100 KB has.
    expect(await probe(150_000)).toEqual({ status: 429, code: 'decoding_busy' });
    expect(await probe(100_000)).toEqual({ status: 200, code: undefined });
    for (const socket of slow) socket.destroy();
    await until(async () => (await probe(590_000)).status === 200, 'the budget given back');
    // A client gone mid-body is no error of the service's: counted as 499, not 500.
    const metrics = await (await fetch(`${svc.collectorUrl}/metrics`)).text();
    expect(metrics).toMatch(/tokentally_http_requests_total\{app="collector",route="\/v1\/usage",method="POST",status="499"\} 2/);
    expect(metrics).not.toMatch(/status="500"/);
  });

  it('a declared length that does not come holds nothing', async () => {
    for (let i = 0; i < 2; i++) await stalled('Content-Length: 500000\r\n', '{"events": [');
    expect(await probe(590_000)).toEqual({ status: 200, code: undefined });
  });

  it('a declared body that finds no room partway is read to its end, so a client that reads only then gets its 429', async () => {
    const { port } = new URL(svc.collectorUrl);
    const late = connect(Number(port), '127.0.0.1');
    late.on('error', () => {});
    open.push(late);
    // Reads nothing until it has sent everything, as many HTTP clients do.
    late.pause();
    const json = JSON.stringify({ events: [{ agent_id: 'a', model: 'm', input_tokens: 1 }] }).padEnd(500_000, ' ');
    const write = (text: string) => new Promise((sent) => late.write(text, sent));
    await write(`POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500000\r\n\r\n${json.slice(0, 100_000)}`);
    // Chunked bodies take the rest of the budget while it waits: 100 + 450 + 440 KB of 1 MB.
    const fillers = [];
    for (const bytes of [450_000, 440_000]) {
      const chunk = `{"events": [${' '.repeat(bytes - 12)}`;
      fillers.push(await stalled('Transfer-Encoding: chunked\r\n', `${chunk.length.toString(16)}\r\n${chunk}\r\n`));
    }
    // The rest comes slowly, over more than a second.
    for (let at = 100_000; at < 500_000; at += 100_000) {
      await new Promise((wait) => setTimeout(wait, 300));
      await write(json.slice(at, at + 100_000));
    }
    let answer = '';
    late.on('data', (data) => { answer += data.toString(); });
    late.resume();
    await until(() => answer.includes('}'), 'the answer to the late reader');
    expect(answer).toMatch(/^HTTP\/1.1 429 /);
    expect(answer).toMatch(/Retry-After: 1/i);
    expect(answer).toContain('"code":"decoding_busy"');
    for (const socket of fillers) socket.destroy();
    await until(async () => (await probe(590_000)).status === 200, 'the budget given back');
  });

  it('an OTLP client gone mid-body is counted as 499 too, not as an error of the service', async () => {
    const socket = connect(Number(new URL(svc.collectorUrl).port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((sent) => socket.write('POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n\n', sent));
    await new Promise((read) => setTimeout(read, 500));
    socket.destroy();
    await until(async () => /route="\/v1\/logs",method="POST",status="499"\} 1/.test(await (await fetch(`${svc.collectorUrl}/metrics`)).text()), 'the 499 counted');
    expect(await (await fetch(`${svc.collectorUrl}/metrics`)).text()).not.toMatch(/status="500"/);
  });

  it('piece by piece when chunked, and a chunked body past MAX_BODY_BYTES gets 413', async () => {
    const chunk = `{"events": [${' '.repeat(450_000)}`;
    const slow = await stalled('Transfer-Encoding: chunked\r\n', `${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    expect(await probe(600_000)).toEqual({ status: 429, code: 'decoding_busy' });
    slow.destroy();
    await until(async () => (await probe(600_000)).status === 200, 'the budget given back');
    const res = await fetch(`${svc.collectorUrl}/v1/usage`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, duplex: 'half',
      body: new ReadableStream({ pull: (c) => { c.enqueue(new TextEncoder().encode(' '.repeat(100_000))); } }),
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'body_too_large' } });
  });

  it('Expect: 100-continue is answered only once the body is to be read: a request refused before gets its answer and sends nothing', async () => {
    /** Sends the headers alone and resolves with the first status line the service answers. */
    const firstLine = (socket: Socket, length: number) => new Promise<string>((resolve) => {
      socket.once('data', (data: Buffer) => resolve(data.toString('latin1').split('\r\n')[0]!));
      socket.write(`POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`);
    });
    const client = async () => {
      const socket = connect(Number(new URL(svc.collectorUrl).port), '127.0.0.1');
      socket.on('error', () => {});
      open.push(socket);
      return socket;
    };
    expect(await firstLine(await client(), 700_000)).toBe('HTTP/1.1 413 Payload Too Large');
    const slow = await stalled('Content-Length: 500000\r\n', `{"events": [${' '.repeat(440_000)}`);
    expect(await firstLine(await client(), 600_000)).toBe('HTTP/1.1 429 Too Many Requests');
    slow.destroy();
    await until(async () => (await probe(590_000)).status === 200, 'the budget given back');
    const socket = await client();
    expect(await firstLine(socket, 100)).toBe('HTTP/1.1 100 Continue');
    const answer = new Promise<string>((resolve) => socket.once('data', (data: Buffer) => resolve(data.toString('latin1').split('\r\n')[0]!)));
    socket.write(JSON.stringify({ events: [{ agent_id: 'a', model: 'm', input_tokens: 1 }] }).padEnd(100, ' '));
    expect(await answer).toBe('HTTP/1.1 200 OK');
  });
});

/**
 * A 500 KB body whose first 480 KB are sent on a connection of its own, then (`dripMs`) 1,000 bytes
 * more every `dripMs`; resolves once the service has answered and closed the connection, with the
 * answer and the milliseconds it took.
 */
async function givenUp(svc: TestService, dripMs?: number): Promise<{ answer: string; ms: number }> {
  const socket = connect(Number(new URL(svc.collectorUrl).port), '127.0.0.1');
  socket.on('error', () => {});
  let answer = '';
  socket.on('data', (data) => { answer += data.toString(); });
  const closed = new Promise((done) => socket.on('close', done));
  const started = performance.now();
  socket.write(`POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500000\r\n\r\n{"events": [${' '.repeat(480_000)}`);
  const drip = dripMs === undefined ? undefined : setInterval(() => socket.write(' '.repeat(1000)), dripMs);
  try {
    await until(() => answer.includes('}'), 'an answer to the body');
    const ms = performance.now() - started;
    // Its connection is closed: the rest of its body can never be read as a request.
    await closed;
    return { answer, ms };
  } finally {
    clearInterval(drip);
    socket.destroy();
  }
}

/** Whether the budget has room for a body of nearly MAX_DECODED_BODY_BYTES again. */
const budgetFree = async (svc: TestService) =>
  (await svc.ingest('/v1/usage', JSON.stringify({ events: [{ agent_id: 'a', model: 'm', input_tokens: 1 }] }).padEnd(590_000, ' '))).status === 200;

describe('a body that trickles', () => {
  it('is given up with 408 once REQUEST_TIMEOUT_MS has passed, though it never stops for BODY_IDLE_TIMEOUT_MS, and gives its bytes back', async () => {
    const svc = await startTestService({ env: { MAX_BODY_BYTES: '600000', MAX_DECODED_BODY_BYTES: '600000', MAX_DECODED_BYTES_IN_FLIGHT: '1000000', BODY_IDLE_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2500' } });
    try {
      const { answer, ms } = await givenUp(svc, 200);
      expect(ms).toBeGreaterThan(2500);
      expect(answer).toMatch(/^HTTP\/1.1 408 /);
      expect(answer).toContain('"code":"request_timeout"');
      expect(answer).toContain('REQUEST_TIMEOUT_MS');
      expect(await budgetFree(svc)).toBe(true);
    } finally {
      await svc.close();
    }
  });
});

describe('a body that stops coming', () => {
  it('is given up with 408 after BODY_IDLE_TIMEOUT_MS, and gives its bytes back to the budget', async () => {
    const svc = await startTestService({ env: { MAX_BODY_BYTES: '600000', MAX_DECODED_BODY_BYTES: '600000', MAX_DECODED_BYTES_IN_FLIGHT: '1000000', BODY_IDLE_TIMEOUT_MS: '1500' } });
    try {
      const { answer } = await givenUp(svc);
      expect(answer).toMatch(/^HTTP\/1.1 408 /);
      expect(answer).toContain('"code":"body_timeout"');
      expect(answer).toContain('BODY_IDLE_TIMEOUT_MS');
      expect(await budgetFree(svc)).toBe(true);
      // Every route that reads a body says so in the OpenAPI documents, the reporting app's too.
      for (const [url, routes] of [[svc.collectorUrl, ['post /v1/usage', 'post /api/usage', 'post /v1/traces', 'post /v1/logs', 'post /v1/metrics']], [svc.reportingUrl, ['post /grafana/query', 'put /v1/budgets/{id}', 'put /v1/projects/pins']]] as const) {
        const { paths } = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
        for (const route of routes) {
          const [method, path] = route.split(' ') as [string, string];
          for (const status of ['408', '413', '415', '429']) expect(paths[path]?.[method]?.responses[status], `${route} ${status}`).toBeDefined();
        }
      }
    } finally {
      await svc.close();
    }
  });
});
