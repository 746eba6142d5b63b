import { makeEvents } from './events.js';

export interface LoadResult {
  requests: number;
  events: number;
  eventsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}

const MARK = '~ID~';

/**
 * Concurrent clients POSTing for a fixed time; latency is from send to the durable ack. Bodies are
 * templates built before the clock starts; each request only splices in a fresh id prefix, so
 * every event is new (no cheap duplicates) and the client's JSON work stays off the measurement.
 */
export async function runLoad(options: { url: string; path: string; batch: number; clients: number; seconds: number; single?: boolean }): Promise<LoadResult> {
  const templates = Array.from({ length: 16 }, () => {
    const events = makeEvents(options.batch, MARK);
    return options.single ? events.map((e) => JSON.stringify(e).split(MARK)) : [JSON.stringify({ events }).split(MARK)];
  }).flat();
  return drive({
    url: options.url + options.path, clients: options.clients, seconds: options.seconds,
    eventsPerRequest: options.single ? 1 : options.batch, headers: { 'content-type': 'application/json' },
    body: (n) => templates[n % templates.length]!.join(`r${n}`),
  });
}

/** The client loop shared by every load: `body(n)` gives request n's body, built cheaply. */
export async function drive(options: {
  url: string; clients: number; seconds: number; eventsPerRequest: number; headers: Record<string, string>; body: (n: number) => string | Uint8Array<ArrayBuffer>;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  let next = 0;
  const deadline = performance.now() + options.seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      while (performance.now() < deadline) {
        const body = options.body(next++);
        const t = performance.now();
        const res = await fetch(options.url, { method: 'POST', headers: options.headers, body });
        await res.arrayBuffer();
        latencies.push(performance.now() - t);
        if (res.ok) requests++;
        else errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const events = requests * options.eventsPerRequest;
  return { requests, events, eventsPerSecond: events / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}
