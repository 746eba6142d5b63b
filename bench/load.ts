import autocannon from 'autocannon';
import { makeEvents } from './events.js';

export interface LoadOptions {
  url: string;
  /** Events per request; 1 posts a bare event (the seed-style route), more post `{"events": [...]}`. */
  batch: number;
  connections: number;
  seconds: number;
  /** Requests per second over all connections; absent: as fast as the server answers. */
  rate?: number;
}

export interface LoadResult {
  requests: number;
  eventsPerSecond: number;
  p50: number;
  p99: number;
  failures: number;
}

const MARK = '~ID~';
const TEMPLATES = 16;
let runs = 0;

export interface DriveOptions {
  url: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
  rate?: number;
  eventsPerRequest: number;
  /** The body of the n-th request: every one must carry new events. */
  body(n: number): string | Buffer;
}

/**
 * Concurrent keep-alive clients (autocannon) posting for a fixed time; latency runs from sending
 * the request to its durable ack.
 */
export async function drive(options: DriveOptions): Promise<LoadResult> {
  let sent = 0;
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    headers: options.headers,
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate ? { overallRate: options.rate } : {}),
    requests: [{ setupRequest: (request) => ({ ...request, body: options.body(sent++) }) }],
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
 * Native batches. Bodies are templates built before the clock starts; each request only splices
 * in a fresh id prefix, so every event is new (no cheap duplicates) and the generator's own JSON
 * work stays off the measurement.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const run = runs++;
  const templates = Array.from({ length: TEMPLATES }, (_, t) => {
    const events = makeEvents(t * options.batch, options.batch, MARK);
    return JSON.stringify(options.batch === 1 ? events[0] : { events }).split(MARK);
  });
  return drive({
    ...options,
    headers: { 'content-type': 'application/json' },
    eventsPerRequest: options.batch,
    body: (n) => templates[n % TEMPLATES]!.join(`p${process.pid}r${run}q${n}`),
  });
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
