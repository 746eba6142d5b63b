import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';

/**
 * Requests that once held the reporting app's event loop for seconds, or answered 500, or were
 * taken from another site's page. Each must be answered with a 2xx or a precise 4xx within a bound
 * that no loaded 2-core machine misses (they took 13-37 s), with /healthz answered meanwhile.
 */

const NOW = Date.UTC(2026, 10, 20, 12);
const ANSWER_MS = 5_000;
const RUN = `${'a'.repeat(35)}!`;
// Leading tabs and carriage returns never reach the store: dimensions are trimmed.
const FORMULAS = ['=HYPERLINK("http://evil.example","x")', '+1+2', '-3+4', '@SUM(A1)'];

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ now: () => NOW });
  const events = [
    { id: 'r', run_id: RUN, agent_id: 'planner', model: 'gpt-4o', timestamp: NOW - 3_600_000, input_tokens: 10, output_tokens: 1 },
    ...FORMULAS.map((agent, i) => ({ id: `f${i}`, agent_id: agent, model: 'gpt-4o', timestamp: NOW - 7_200_000, input_tokens: 10, output_tokens: 1 })),
  ];
  expect(await (await svc.ingest('/v1/usage', { events })).json()).toMatchObject({ accepted: events.length });
});
afterAll(() => svc.close());

/** The longest the event loop was held while `work` ran, and how long /healthz took meanwhile. */
async function watched<T>(work: () => Promise<T>): Promise<{ result: T; ms: number; longestStallMs: number; healthMs: number }> {
  let longestStallMs = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    longestStallMs = Math.max(longestStallMs, performance.now() - last);
    last = performance.now();
  }, 5);
  const started = performance.now();
  const health = (async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const asked = performance.now();
    expect((await fetch(`${svc.reportingUrl}/healthz`)).status).toBe(200);
    return performance.now() - asked;
  })();
  const result = await work();
  const ms = performance.now() - started;
  const healthMs = await health;
  clearInterval(probe);
  return { result, ms, longestStallMs, healthMs };
}

async function get(path: string) {
  const res = await fetch(svc.reportingUrl + path);
  return { status: res.status, body: await res.json() as any };
}

async function grafana(body: unknown) {
  const res = await fetch(`${svc.reportingUrl}/grafana/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() as any };
}

const grafanaQuery = (extra: Record<string, unknown>, payload: Record<string, unknown> = {}) => ({
  range: { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' }, targets: [{ refId: 'A', target: 'events', payload }], ...extra,
});
const adHoc = (operator: string, value: string, key = 'run') => grafanaQuery({ filters: [{ key, operator, value, condition: 'AND' }] });

describe('reporting under hostile input', () => {
  it.each([
    ['the range of the issue, in a zone', '/v1/reports/usage?from=1000-01-01&to=9999-12-31&tz=Europe/Paris', 400, /^from: "1000-01-01" is outside the years 2000 to 2100/],
    ['a year below 100 (Date read 0050 as 1950)', '/v1/reports/usage?from=0050-06-01', 400, /^from: "0050-06-01" is outside the years 2000 to 2100/],
    ['a date-time past 2100', '/v1/reports/timeseries?to=2101-01-01T00:00:00Z', 400, /^to: "2101-01-01T00:00:00Z" is outside the years/],
    ['a seed date outside the years', '/api/usage?from_date=1999-12-31', 400, /^from_date: .* is outside the years/],
    ['every year allowed, by month, in a zone', '/v1/reports/usage?from=2000-01-01&to=2100-12-31&tz=Asia/Gaza&group_by=month', 200, null],
    ['every year allowed, by hour, in a zone', '/v1/reports/usage?from=2000-01-01&to=2100-12-31&tz=America/Sao_Paulo&group_by=hour', 200, null],
    ['a century of months in a zone, zero-filled', '/v1/reports/timeseries?interval=month&from=2000-01-01&to=2100-12-31&tz=Australia/Lord_Howe', 200, null],
    ['10,000 hours in a zone, zero-filled', '/v1/reports/timeseries?interval=hour&from=2025-06-01&to=2026-07-20&tz=Europe/London', 200, null],
    ['more buckets than allowed', '/v1/reports/timeseries?interval=hour&from=2000-01-01&to=2100-01-01&tz=Europe/Berlin', 400, /^interval: more than 10000 hour buckets/],
    ['the hour of a February 29th', '/v1/reports/usage?from=2024-02-29T23:59:59.999999999%2B14:00&to=2024-03-01', 200, null],
    ['an hour 24', '/v1/reports/usage?from=2026-11-01T24:00:00Z', 400, /^from: .* is not a date/],
  ])('%s: %s → %i, answered in time, the event loop never held', async (_, path, status, message) => {
    const { result, ms, longestStallMs, healthMs } = await watched(() => get(path));
    expect(result.status, JSON.stringify(result.body).slice(0, 300)).toBe(status);
    if (message) expect(result.body.error.message).toMatch(message);
    expect(ms).toBeLessThan(ANSWER_MS);
    expect(healthMs).toBeLessThan(ANSWER_MS / 2);
    expect(longestStallMs).toBeLessThan(ANSWER_MS / 2);
  });

  it.each([
    ['a backtracking pattern (13.6 s on V8)', '(a+)+$', 200],
    ['alternation in a loop', '(a|aa)+', 200],
    ['Grafana regex-escaped multi-value', '(gpt\\-4o|a{35}\\!|claude\\.x)', 200],
    ['a lookahead RE2 does not take', '(?=a)a', 400],
    ['a backreference', '(a)\\1', 400],
    ['a counted repetition that compiles to 2,000 instructions', '.{0,999}', 400],
    ['nested counted repetitions', '((a{0,20}){0,20})', 400],
    ['a 300-character pattern', 'a'.repeat(300), 400],
  ])('a Grafana ad hoc filter with %s (%s) answers %i at once', async (_, pattern, status) => {
    for (const operator of ['=~', '!~']) {
      const { result, ms, longestStallMs } = await watched(() => grafana(adHoc(operator, pattern)));
      expect(result.status, JSON.stringify(result.body).slice(0, 300)).toBe(status);
      if (status === 400) expect(result.body.error.message).toMatch(/^filters\[0\]\.value: /);
      expect(ms).toBeLessThan(ANSWER_MS);
      expect(longestStallMs).toBeLessThan(ANSWER_MS / 2);
    }
  });

  it('a backtracking pattern still filters: the run matches (a+)+! and nothing else does', async () => {
    const match = await grafana(adHoc('=~', '(a+)+!'));
    expect(match.body.reduce((sum: number, s: any) => sum + s.datapoints.reduce((n: number, [v]: number[]) => n + v, 0), 0)).toBe(1);
    const none = await grafana(adHoc('=~', '(a+)+'));
    expect(none.body.flatMap((s: any) => s.datapoints)).toEqual([]);
  });

  it('33,000 filter values (over SQLite\'s 32,766 variables) are answered, as payload lists and as =| values', async () => {
    const values = Array.from({ length: 33_000 }, (_, i) => `model-${i}`).concat('gpt-4o');
    const payload = await grafana(grafanaQuery({}, { model: values, format: 'table' }));
    expect(payload.status).toBe(200);
    expect(payload.body[0].rows).toEqual([[5]]);
    const listed = await grafana(grafanaQuery({ filters: [{ key: 'model', operator: '=|', values }] }, { format: 'table' }));
    expect(listed.status).toBe(200);
    expect(listed.body[0].rows).toEqual([[5]]);
    const rest = await get(`/v1/reports/usage?from=2026-11-01&model=${Array.from({ length: 2000 }, (_, i) => `m${i}`).join(',')},gpt-4o`);
    expect(rest.status).toBe(200);
    expect(rest.body.totals.events).toBe(5);
  });

  it('cuts long input it quotes back to about 100 characters', async () => {
    const long = 'x'.repeat(8_000);
    const answers = [
      await get(`/v1/reports/usage?tz=${long}`),
      await get(`/v1/reports/usage?group_by=${long}`),
      await get(`/v1/reports/usage?${long}=1`),
      await get(`/v1/reports/usage?from=${long}`),
      await grafana({ ...adHoc('=', 'x', long) }),
      await grafana({ ...adHoc(long, 'x') }),
      await grafana({ ...adHoc('=~', `(${long}`) }),
    ];
    for (const { status, body } of answers) {
      expect(status).toBe(400);
      expect(body.error.message.length, body.error.message.slice(0, 200)).toBeLessThan(400);
      expect(body.error.message).not.toContain('x'.repeat(101));
    }
  });

  it('neutralises CSV cells a spreadsheet would read as formulas (OWASP), and leaves numbers as numbers', async () => {
    const res = await fetch(`${svc.reportingUrl}/v1/reports/usage?from=2026-11-01&group_by=agent&format=csv`);
    expect(res.status).toBe(200);
    const csv = await res.text();
    for (const formula of FORMULAS) {
      expect(csv).toContain(`'${formula.replaceAll('"', '""')}`);
      expect(csv).not.toMatch(new RegExp(`(^|,|")${formula.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
    }
    expect(csv).toMatch(/^planner,1,10,1,0,0,0,11,/m);
  });
});

/** A raw HTTP request, so that browser-only headers (Origin, Sec-Fetch-Site) can be sent as a browser would. */
function send(base: string, method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; text: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('cross-site writes, with no API keys configured', () => {
  const host = () => new URL(svc.reportingUrl).host;
  const json = { 'content-type': 'application/json' };

  it.each([
    ['a form post from another site', { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, 403, /^Sec-Fetch-Site: cross-site: a page on another site/],
    ['a text/plain fetch from another site', { 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site' }, 403, /^Sec-Fetch-Site: cross-site/],
    ['a post from a sibling site', { ...json, 'sec-fetch-site': 'same-site' }, 403, /^Sec-Fetch-Site: same-site/],
    ['an older browser, another origin', { ...json, origin: 'https://evil.example' }, 403, /^Origin https:\/\/evil\.example is not this host/],
    ['an older browser, a sandboxed page', { ...json, origin: 'null' }, 403, /^Origin null is not this host/],
    ['a form post with no fetch metadata at all', { 'content-type': 'application/x-www-form-urlencoded' }, 415, /^Content-Type "application\/x-www-form-urlencoded" is not supported/],
  ])('%s is refused', async (_, headers, status, message) => {
    const res = await send(svc.reportingUrl, 'POST', '/v1/projects/atlas/pin', headers as Record<string, string>, 'x=1');
    expect(res.status).toBe(status);
    expect(JSON.parse(res.text).error.message).toMatch(message);
    expect((await get('/v1/projects')).body.projects.filter((p: any) => p.pinned)).toEqual([]);
  });

  it('the collector refuses a cross-site post of events too', async () => {
    const body = JSON.stringify({ events: [{ agent_id: 'x', model: 'y' }] });
    const res = await send(svc.collectorUrl, 'POST', '/v1/usage', { 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, body);
    expect(res.status).toBe(403);
  });

  it('the page\'s own writes, scripts and a Grafana-like server post pass', async () => {
    const page = await send(svc.reportingUrl, 'POST', '/v1/projects/default/pin', { 'sec-fetch-site': 'same-origin', origin: svc.reportingUrl });
    expect(page.status).toBe(200);
    const older = await send(svc.reportingUrl, 'DELETE', '/v1/projects/default/pin', { origin: `http://${host()}` });
    expect(older.status).toBe(200);
    const script = await send(svc.reportingUrl, 'PUT', '/v1/projects/atlas', json, '{"name":"Atlas"}');
    expect(script.status).toBe(201);
    // What Grafana's server-side proxy sends: JSON, no Origin, no fetch metadata.
    const grafanaPost = await send(svc.reportingUrl, 'POST', '/grafana/query', { ...json, 'user-agent': 'Grafana/11.3.0', 'x-grafana-org-id': '1' }, JSON.stringify(grafanaQuery({})));
    expect(grafanaPost.status).toBe(200);
    expect(Array.isArray(JSON.parse(grafanaPost.text))).toBe(true);
  });
});
