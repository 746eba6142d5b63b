import { expect } from 'vitest';

/** Resolves once `condition` holds, polling every 10 ms; fails with `what` when it has not by `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A client's request to a server the test is about to stop: a connection failure is expected only
 * once the stop was sent (`null` then, as nothing was acknowledged); before it, it fails the test.
 */
export async function fetchUntilStopped(url: string, init: RequestInit, stopped: { now: boolean }): Promise<Response | null> {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (stopped.now) return null;
    throw error;
  }
}

/** One sample of an app's Prometheus `/metrics` (`name` with its labels, if any), or undefined when it is absent. */
export async function metricValue(appUrl: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${appUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/**
 * A client posting fresh batches (`batch(i)`) to a collector until the server, told to stop, turns it
 * away; every acknowledged id goes to `acked`. Before the stop every answer must be a 200; after it a
 * 503 with Retry-After, which `onDraining` checks further, answering whether to keep sending.
 */
export async function postUntilStopped(
  collectorUrl: string, batch: (i: number) => { id: string }[], stopped: { now: boolean }, acked: string[], onDraining: (res: Response) => boolean,
): Promise<void> {
  for (let i = 0; ; i++) {
    const events = batch(i);
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) };
    const res = await fetchUntilStopped(`${collectorUrl}/v1/usage`, init, stopped);
    if (res === null) return;
    if (res.status === 200) {
      acked.push(...events.map((e) => e.id));
      continue;
    }
    expect(stopped.now, `answered ${res.status} before the stop`).toBe(true);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    if (!onDraining(res)) return;
  }
}
