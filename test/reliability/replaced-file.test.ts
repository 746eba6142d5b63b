import { copyFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, waitForUrls, type Running } from '../../bench/server.js';
import { scratchDir } from '../support/scratch-dirs.js';

const batch = (prefix: string) => ({ events: Array.from({ length: 20 }, (_, i) => ({ id: `${prefix}-${i}`, agent_id: 'a', model: 'm', input_tokens: 10 })) });

let running: Running | undefined;
afterEach(async () => {
  running?.child.kill('SIGKILL');
  await running?.exited;
  running = undefined;
});

/**
 * An operator deletes or replaces the SQLite file (or its WAL) under the running service. SQLite
 * would go on committing into the old files, acknowledged and then gone: each write checks first.
 */
describe.each([
  ['the database file deleted', (db: string) => rmSync(db), 'usage.db'],
  ['the database file replaced by a copy (a restore by mv)', (db: string) => {
    copyFileSync(db, `${db}.restored`);
    renameSync(`${db}.restored`, db);
  }, 'usage.db'],
  ['its WAL deleted', (db: string) => rmSync(`${db}-wal`), 'usage.db-wal'],
])('%s while the service runs', (_, mishap, named) => {
  it('refuses further writes with 503 naming the file, and /readyz says so, rather than acknowledge what would be lost', async () => {
    const db = join(scratchDir('tokentally-replaced-'), 'usage.db');
    running = runCli(['serve'], { DATABASE_URL: db, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', WRITE_RETRY_MS: '200' });
    const urls = await waitForUrls(running);
    const send = (prefix: string) => fetch(`${urls.collector}/v1/usage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch(prefix)) });
    expect((await send('before')).status).toBe(200);

    mishap(db);
    const refused = await send('after');
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: unknown }).error).toMatchObject({
      code: 'storage_unavailable',
      message: expect.stringContaining(`${join(db, '..', named)} was deleted or replaced while the service ran; restart the service`),
    });
    const readyz = await fetch(`${urls.collector}/readyz`);
    expect(readyz.status).toBe(503);
    expect(((await readyz.json()) as { reason: string }).reason).toMatch(/was deleted or replaced/);
    expect(running.child.exitCode).toBeNull();
  });
});
