import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, waitForUrls } from '../../bench/server.js';
import { fetchUntilStopped, until } from '../support/wait.js';
import { scratchDir } from '../support/scratch-dirs.js';

const CLIENTS = 4;
const BATCH = 50;

/** One client: sends batches with fresh ids until the server dies, remembering every acked id. */
async function client(url: string, name: string, acked: string[], killed: { now: boolean }): Promise<void> {
  for (let n = 0; ; n++) {
    const ids = Array.from({ length: BATCH }, (_, i) => `${name}-${n}-${i}`);
    const body = JSON.stringify({ events: ids.map((id) => ({ id, agent_id: name, model: 'gpt-4o', input_tokens: 7, output_tokens: 3 })) });
    const res = await fetchUntilStopped(`${url}/v1/usage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }, killed);
    if (res === null) return; // the connection died with the server: this batch was never acked
    expect(res.status, `answered ${res.status} while up`).toBe(200);
    expect((await res.json()).accepted).toBe(BATCH);
    acked.push(...ids);
  }
}

describe('crash safety', () => {
  it('keeps every acknowledged event exactly once, with rollups equal to raw, after kill -9 mid-load', async () => {
    const db = join(scratchDir('tokentally-crash-'), 'usage.db');
    const env = { DATABASE_URL: db, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' };
    const run = runCli(['serve'], env);
    const { collector } = await waitForUrls(run);
    const acked: string[] = [];
    const killed = { now: false };
    const clients = Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(collector, `agent${i}`, acked, killed)));
    await until(() => acked.length >= 2_000, 'a first 2,000 acknowledged events', 20_000);
    killed.now = true;
    run.child.kill('SIGKILL');
    await run.exited;
    await clients;

    // Restart on the same file: the service must come up and the data must be whole.
    const again = runCli(['serve'], env);
    await waitForUrls(again);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);

    const conn = new Database(db, { readonly: true });
    const present = conn.prepare('SELECT COUNT(*) FROM usage_events WHERE id = ?').pluck();
    const missing = acked.filter((id) => present.get(id) !== 1);
    expect(missing).toEqual([]);
    const raw = conn.prepare('SELECT COUNT(*) AS events, SUM(input_tokens) AS input FROM usage_events').get();
    const rollup = conn.prepare('SELECT SUM(events) AS events, SUM(input_tokens) AS input FROM usage_daily').get();
    expect(rollup).toEqual(raw);
    conn.close();

    const verify = runCli(['verify'], { DATABASE_URL: db });
    expect(await verify.exited).toBe(0);
    expect(verify.output()).toMatch(/integrity: ok; rollup rows differing from the raw sums \(either side\): 0/);
  });
});
