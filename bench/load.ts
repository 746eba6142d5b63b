import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { makeEvents, msBeforeSend } from './events.js';
import { percentile } from './reports.js';

export interface LoadOptions {
  url: string;
  /** Events per request; 1 posts a bare event (the seed-style route), more post `{"events": [...]}`. */
  batch: number;
  connections: number;
  seconds: number;
  /** Requests per second, evenly spaced, sent when due (see pace); absent: as fast as the server answers. */
  rate?: number;
  /**
   * `scattered`: each event's id leads with 16 hex digits of its own, so a request's ids fall all
   * over the id index, as random ids (UUIDs, OTLP log records' request ids and hashes) do; absent:
   * a request's ids share their start and land together.
   */
  ids?: 'scattered';
  /**
   * `live`: each request's events made within the 5 s before it is sent (msBeforeSend), as the
   * logs load's are; absent: the generator's times, over the 30 days before the load was built.
   */
  times?: 'live';
}

export interface LoadResult {
  requests: number;
  eventsPerSecond: number;
  p50: number;
  p99: number;
  failures: number;
}

const MARK = '~ID~';
const TIME_MARK = '~T~';
/**
 * Events a run draws its request bodies from, per second of the run: no request repeats another's
 * timestamps and run ids unless the run goes faster than this, and no two runs share any. With 16
 * bodies for every run, the same events came back every 16 requests, and at half rate so did a
 * pair of slow requests (docs/benchmarks.md). One event per request (the seed-style route) runs at
 * 800-1,800 requests/s here, and each body's own overhead would make 40,000 a second of them
 * hundreds of MB.
 */
const POOL_EVENTS_PER_SECOND = { batches: 40_000, single: 5_000 };
let nextEvent = 0;
let runs = 0;

/**
 * Paced requests sent first and not counted: right after a saturating run the server is still
 * writing back what that run left (the first second's answers took 75-116 ms, later ones 45-60),
 * and the figure is meant for steady load at this rate.
 */
const PACED_WARMUP_SECONDS = 1;

export interface DriveOptions {
  url: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
  rate?: number;
  eventsPerRequest: number;
  /**
   * The body of the n-th request: every one must carry new events. With a `slot`, it may be written
   * over the bytes of the slot's body before, which the caller no longer needs.
   */
  body(n: number, slot?: number): string | Buffer;
}

/**
 * Concurrent keep-alive clients (autocannon) posting for a fixed time, or with a rate, paced
 * requests (below); latency runs from sending the request to its durable ack.
 */
export async function drive(options: DriveOptions): Promise<LoadResult> {
  if (options.rate) return pace({ ...options, rate: options.rate });
  let sent = 0;
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    headers: options.headers,
    connections: options.connections,
    duration: options.seconds,
    // autocannon copies the body into the request's bytes as it sets the request up, so one slot serves every connection.
    requests: [{ setupRequest: (request) => ({ ...request, body: options.body(sent++, 0) }) }],
  });
  const ok = result['2xx'];
  return {
    requests: ok,
    eventsPerSecond: (ok * options.eventsPerRequest) / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors,
  };
}

/**
 * Requests evenly spaced at `rate` a second, each sent when due whether or not the ones before it
 * were answered (an open loop, as requests from many agents arrive), over at most `connections`
 * keep-alive connections; each latency counts from when the request was due, so time spent waiting
 * for a free connection counts too. With one request in flight, each would wait for the one before,
 * so the server could neither parse one request while committing another nor commit several
 * together, and 100-event batches at half the peak rate come near what one connection can be
 * served at: the figure would measure that queue (docs/benchmarks.md, session 8).
 * autocannon's own rate limit sends each second's quota back to back, and its correction for that
 * assumes requests due every millisecond, which fills the histogram with made-up fast samples.
 */
async function pace(options: DriveOptions & { rate: number }): Promise<LoadResult> {
  const url = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  const answers: Promise<void>[] = [];
  let failures = 0;
  const warmup = Math.floor(options.rate * PACED_WARMUP_SECONDS);
  const started = performance.now();
  const total = warmup + Math.floor(options.rate * options.seconds);
  let measuredFrom = started;
  for (let n = 0; n < total; n++) {
    const due = started + (n * 1000) / options.rate;
    if (n === warmup) measuredFrom = due;
    if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
    answers.push(post(url, agent, options.headers, options.body(n)).then((status) => {
      if (n < warmup) return;
      if (status >= 200 && status < 300) latencies.push(performance.now() - due);
      else failures++;
    }));
  }
  await Promise.all(answers);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    eventsPerSecond: (latencies.length * options.eventsPerRequest) / ((performance.now() - measuredFrom) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failures,
  };
}

function post(url: URL, agent: Agent, headers: Record<string, string>, body: string | Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Events in the pool of a load of these options (see POOL_EVENTS_PER_SECOND). */
function poolEvents(options: LoadOptions): number {
  return POOL_EVENTS_PER_SECOND[options.batch === 1 ? 'single' : 'batches'] * (options.seconds + (options.rate ? PACED_WARMUP_SECONDS : 0));
}

/**
 * The first event of a new pool for a load of these options: no two loads given their pools by
 * this process share an event, wherever their bodies are built.
 */
export function takePool(options: LoadOptions): number {
  const first = nextEvent;
  nextEvent += poolEvents(options);
  return first;
}

/**
 * The n-th body of a native load: templates built from the pool that starts at event `first`;
 * each request only splices in a fresh id prefix (this process's id, so two processes' loads never
 * share one), so every event is new (no cheap duplicates) and the generator's own JSON work stays
 * off the measurement.
 */
export function usageBodies(options: LoadOptions, first: number): (n: number) => string {
  const run = runs++;
  const now = Date.now();
  const templates = Array.from({ length: Math.ceil(poolEvents(options) / options.batch) }, (_, t) => {
    const events = makeEvents(first + t * options.batch, options.batch, MARK, now);
    if (options.ids === 'scattered') for (const event of events) event.id = `${randomBytes(8).toString('hex')}${event.id}`;
    if (options.times === 'live') for (const event of events) (event as { timestamp: unknown }).timestamp = `${TIME_MARK}${msBeforeSend(event.timestamp, now)}`;
    return JSON.stringify(options.batch === 1 ? events[0] : { events });
  });
  if (options.times === 'live') {
    const live = templates.map(liveTemplate);
    return (n) => live[n % live.length]!(`p${process.pid}r${run}q${n}`, Date.now());
  }
  const parts = templates.map((json) => json.split(MARK));
  return (n) => parts[n % parts.length]!.join(`p${process.pid}r${run}q${n}`);
}

/**
 * A template of a load with live times as the function that fills it: each id mark with the
 * request's id prefix, each time mark (a quoted `~T~<ms before the send>`) with the time that many
 * ms before `sent`.
 */
function liveTemplate(json: string): (prefix: string, sent: number) => string {
  // split with a capturing group: the texts between marks, each followed by its mark's capture
  // (undefined for an id mark, the ms for a time mark).
  const parts = json.split(new RegExp(`${MARK}|"${TIME_MARK}(\\d+)"`));
  const texts = parts.filter((_, i) => i % 2 === 0);
  const agos = parts.filter((_, i) => i % 2 === 1).map((ago) => (ago === undefined ? undefined : Number(ago)));
  return (prefix, sent) => {
    let body = texts[0]!;
    for (let i = 0; i < agos.length; i++) body += (agos[i] === undefined ? prefix : String(sent - agos[i]!)) + texts[i + 1]!;
    return body;
  };
}

/** Native batches, bodies built before the clock starts (usageBodies). */
export async function runLoad(options: LoadOptions, body = usageBodies(options, takePool(options))): Promise<LoadResult> {
  return drive({ ...options, headers: { 'content-type': 'application/json' }, eventsPerRequest: options.batch, body });
}

/** The collector's event counts by outcome (`tokentally_events_total`): accepted, duplicate, rejected. */
export async function eventCounts(collectorUrl: string): Promise<Record<string, number>> {
  const metrics = await (await fetch(`${collectorUrl}/metrics`)).text();
  return Object.fromEntries([...metrics.matchAll(/^tokentally_events_total\{outcome="(\w+)"\} (\d+)$/gm)].map(([, outcome, n]) => [outcome!, Number(n)]));
}

/**
 * Resolves once the collector has no events waiting for a commit, twice in a row: a load run ends
 * with requests still in flight, and the next run must not start behind their backlog.
 */
export async function waitForIdle(collectorUrl: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let quiet = 0; quiet < 2; ) {
    if (Date.now() > deadline) throw new Error(`the collector at ${collectorUrl} did not go idle`);
    await new Promise((r) => setTimeout(r, 100));
    const metrics = await (await fetch(`${collectorUrl}/metrics`)).text();
    quiet = /^tokentally_queue_events 0$/m.test(metrics) ? quiet + 1 : 0;
  }
}
