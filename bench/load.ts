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

/**
 * Concurrent keep-alive clients (autocannon) posting for a fixed time; latency runs from sending
 * the request to its durable ack. Bodies are templates built before the clock starts; each
 * request only splices in a fresh id prefix, so every event is new (no cheap duplicates) and the
 * generator's own JSON work stays off the measurement.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const run = runs++;
  const templates = Array.from({ length: TEMPLATES }, (_, t) => {
    const events = makeEvents(t * options.batch, options.batch, MARK);
    return JSON.stringify(options.batch === 1 ? events[0] : { events }).split(MARK);
  });
  let sent = 0;
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate ? { overallRate: options.rate } : {}),
    requests: [{
      setupRequest(request) {
        const n = sent++;
        return { ...request, body: templates[n % TEMPLATES]!.join(`p${process.pid}r${run}q${n}`) };
      },
    }],
  });
  const ok = result['2xx'];
  return {
    requests: ok,
    eventsPerSecond: (ok * options.batch) / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors,
  };
}
