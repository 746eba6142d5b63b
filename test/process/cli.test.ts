import { status } from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, runCli, waitForListening, waitForUrls } from '../../bench/server.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { callExport, grpcClient } from '../support/grpc.js';
import { otlpRequest, toProtobuf, TRACE_ID } from '../support/otlp.js';
import { postUntilStopped, until } from '../support/wait.js';
import { scratchDir } from '../support/scratch-dirs.js';

const tempDb = () => join(scratchDir('tokentally-cli-'), 'nested', 'usage.db');

describe('tokentally serve', () => {
  it('creates the database file and its folder, serves both apps, and exits 0 on SIGTERM', async () => {
    const db = tempDb();
    const run = runCli(['serve'], { DATABASE_URL: db, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
    const urls = await waitForUrls(run);
    expect((await fetch(`${urls.collector}/healthz`)).status).toBe(200);
    expect((await fetch(`${urls.reporting}/readyz`)).status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(new Database(db).prepare('SELECT COUNT(*) AS n FROM schema_migrations').get()).toMatchObject({ n: expect.any(Number) });
  });

  it.each([
    [{ COLLECTOR_PORT: 'abc' }, /COLLECTOR_PORT="abc"/],
    [{ REPORTING_PORT: '70000' }, /REPORTING_PORT="70000"/],
    [{ QUEUE_MAX_EVENTS: '-5' }, /QUEUE_MAX_EVENTS="-5"/],
    [{ SQLITE_SYNCHRONOUS: 'OFF' }, /SQLITE_SYNCHRONOUS="OFF"/],
    [{ BODY_IDLE_TIMEOUT_MS: '60000', REQUEST_TIMEOUT_MS: '30000' }, /BODY_IDLE_TIMEOUT_MS="60000": must not exceed REQUEST_TIMEOUT_MS/],
    // A mistyped URL is neither taken for a file path nor shown with its password.
    [{ DATABASE_URL: 'postgress://tokentally:s3cret@db/usage' }, /DATABASE_URL="postgress:\/\/…@db\/usage": must be a postgres:\/\/ or postgresql:\/\/ URL, or the path of a SQLite file/],
    [{ DATABASE_URL: 'postgres:/tokentally:s3cret@db/usage' }, /DATABASE_URL="postgres:\/tokentally@db\/usage": must be a postgres:\/\//],
  ])('stops with a message naming a wrong variable: %o', async (env, message) => {
    const run = runCli(['serve'], { DATABASE_URL: tempDb(), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', ...env });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(message);
    expect(run.output()).not.toMatch(/s3cret/);
  });

  it('stops with a message naming the entry of a malformed PRICES_FILE', async () => {
    const run = runCli(['serve'], { DATABASE_URL: tempDb(), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', PRICES_FILE: join(PACKAGE_ROOT, 'test/fixtures/pricing/bad-entry.json') });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/PRICES_FILE \(.*bad-entry.json\): entry \d+ \(/);
  });

  it('takes settings from CONFIG_FILE, the environment winning, and names the file when one is wrong', async () => {
    const dir = scratchDir('tokentally-config-');
    const file = join(dir, 'tokentally.env');
    const db = join(dir, 'from-file.db');
    writeFileSync(file, `# the sidecar's settings\nDATABASE_URL=${db}\nexport REPORTING_PORT="0"\nGRPC_PORT=0\nCOLLECTOR_PORT=abc\n`);
    const run = runCli(['serve'], { CONFIG_FILE: file, COLLECTOR_PORT: '0' });
    const urls = await waitForUrls(run);
    expect((await fetch(`${urls.reporting}/readyz`)).status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(existsSync(db)).toBe(true);

    const wrong = runCli(['migrate'], { CONFIG_FILE: file });
    expect(await wrong.exited).toBe(1);
    expect(wrong.output()).toContain(`COLLECTOR_PORT="abc": Invalid input: expected number, received NaN (from CONFIG_FILE ${file})`);
    writeFileSync(file, 'COLECTOR_PORT=4318\n');
    const misspelt = runCli(['migrate'], { CONFIG_FILE: file });
    expect(await misspelt.exited).toBe(1);
    expect(misspelt.output()).toContain(`CONFIG_FILE="${file}": "COLECTOR_PORT" is not a setting`);
    const missing = runCli(['migrate'], { CONFIG_FILE: join(dir, 'none.env') });
    expect(await missing.exited).toBe(1);
    expect(missing.output()).toMatch(/CONFIG_FILE=".*none\.env": cannot be read \(ENOENT\)/);
  });

  it.each(['COLLECTOR_PORT', 'GRPC_PORT'])('stops with a message when a port is taken: %s', async (variable) => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as { port: number }).port;
    const run = runCli(['serve'], { DATABASE_URL: tempDb(), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', [variable]: String(port) });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(new RegExp(`127.0.0.1:${port} \\(${variable}\\).*already in use`));
    blocker.close();
  });

  // Each names the database and the setting, gives the driver's words and code, and says what to look at.
  const closedPort = async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    await new Promise((r) => server.close(r));
    return port;
  };
  it.each<[string, () => Promise<{ url: string; expected: RegExp }>]>([
    ['a file that is not a database', async () => {
      const url = join(scratchDir('tokentally-cli-'), 'notes.db');
      writeFileSync(url, 'these are notes, not a database\n'.repeat(40));
      return { url, expected: new RegExp(`cannot open the database ${url} \\(DATABASE_URL\\): file is not a database \\(SQLITE_NOTADB\\)`) };
    }],
    ['a folder', async () => {
      const url = scratchDir('tokentally-cli-');
      return { url, expected: new RegExp(`cannot open the database ${url} \\(DATABASE_URL\\): unable to open database file \\(SQLITE_CANTOPEN\\); that is a folder: name a file in it, e\\.g\\. DATABASE_URL=${url}/tokentally\\.db`) };
    }],
    ['a file where its folder should be', async () => {
      const file = join(scratchDir('tokentally-cli-'), 'data');
      writeFileSync(file, '');
      const url = join(file, 'usage.db');
      return { url, expected: new RegExp(`cannot open the database ${url} \\(DATABASE_URL\\): EEXIST: .*; a file stands where its folder should be`) };
    }],
    ['a PostgreSQL server that is not there, its password kept out', async () => {
      const port = await closedPort();
      return { url: `postgres://tokentally:s3cret@127.0.0.1:${port}/usage`, expected: new RegExp(`^cannot open the database postgres://tokentally@127\\.0\\.0\\.1:${port}/usage \\(DATABASE_URL\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; nothing accepts connections at that address`, 'm') };
    }],
    ['a PostgreSQL server that is not there, its password given as a parameter and kept out', async () => {
      const port = await closedPort();
      return { url: `postgresql://127.0.0.1:${port}/usage?user=tokentally&password=s3cret`, expected: new RegExp(`^cannot open the database postgresql://127\\.0\\.0\\.1:${port}/usage\\?user=tokentally&password=… \\(DATABASE_URL\\): connect ECONNREFUSED`, 'm') };
    }],
  ])('stops with a message naming the database when it cannot be opened: %s', async (_, setUp) => {
    const { url, expected } = await setUp();
    const run = runCli(['serve'], { DATABASE_URL: url, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(expected);
    expect(run.output()).not.toMatch(/s3cret| listening on/);
  });

  it('verify names a PostgreSQL server that is not there too, though it only reads', async () => {
    const port = await closedPort();
    const run = runCli(['verify'], { DATABASE_URL: `postgres://tokentally:s3cret@127.0.0.1:${port}/usage` });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(new RegExp(`^cannot open the database postgres://tokentally@127\\.0\\.0\\.1:${port}/usage \\(DATABASE_URL\\): connect ECONNREFUSED`, 'm'));
    expect(run.output()).not.toMatch(/s3cret/);
  });

  it('answers and commits every accepted request before exiting on SIGTERM', async () => {
    const db = tempDb();
    const run = runCli(['serve'], { DATABASE_URL: db, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
    const { collector } = await waitForUrls(run);
    const acked: string[] = [];
    const stopped = { now: false };
    const client = (c: number) =>
      postUntilStopped(collector, (i) => Array.from({ length: 200 }, (_, j) => ({ id: `c${c}-${i}-${j}`, agent_id: 'a', model: 'm', input_tokens: 1 })), stopped, acked, (res) => {
        // Draining answers close their connection, so a busy keep-alive client cannot hold the server open.
        expect(res.headers.get('connection')).toBe('close');
        return true;
      });
    const clients = Promise.all([1, 2, 3, 4].map(client));
    await until(() => acked.length >= 1_000, 'a first thousand acknowledged events');
    stopped.now = true;
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    await clients;
    expect(acked.length).toBeGreaterThan(0);
    const stored = new Set(new Database(db).prepare('SELECT id FROM usage_events').pluck().all() as string[]);
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
  });

  it('prints the OTLP/gRPC address, and on SIGTERM answers and commits every gRPC export in flight', async () => {
    const db = tempDb();
    const run = runCli(['serve'], { DATABASE_URL: db, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
    const { 'OTLP/gRPC': grpcUrl } = await waitForListening(run, ['collector', 'reporting', 'OTLP/gRPC']);
    expect(grpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const acked: string[] = [];
    let stopped = false;
    const usage = { 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 };
    const client = async (c: number) => {
      const channel = grpcClient(grpcUrl);
      for (let i = 0; ; i++) {
        const spanIds = Array.from({ length: 50 }, (_, j) => (c * 1e9 + i * 100 + j).toString(16).padStart(16, '0'));
        const answer = await callExport(channel, toProtobuf(otlpRequest(spanIds.map((spanId) => ({ spanId, attributes: usage })))));
        if (answer.code === status.OK) {
          acked.push(...spanIds.map((spanId) => TRACE_ID + spanId));
          continue;
        }
        expect(stopped, `answered ${answer.code} ${answer.details} before SIGTERM`).toBe(true);
        // Ours while draining, or the client's own once the connection is gone: both retryable.
        expect(answer.code).toBe(status.UNAVAILABLE);
        channel.close();
        return;
      }
    };
    const clients = Promise.all([1, 2, 3, 4].map(client));
    await until(() => acked.length >= 1_000, 'a first thousand acknowledged spans');
    stopped = true;
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    await clients;
    const stored = new Set(new Database(db).prepare('SELECT id FROM usage_events').pluck().all() as string[]);
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
  });
});

describe('maintenance commands', () => {
  it('migrate applies the migrations and exits', async () => {
    const db = tempDb();
    const run = runCli(['migrate'], { DATABASE_URL: db });
    expect(await run.exited).toBe(0);
    const tables = new Database(db).prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['usage_events', 'usage_daily', 'schema_migrations']));
  });

  it('verify fails on a rollup that differs from the raw sums, and rebuild-rollups mends it', async () => {
    const db = tempDb();
    expect(await runCli(['migrate'], { DATABASE_URL: db }).exited).toBe(0);
    const conn = new Database(db);
    conn.prepare(`INSERT INTO usage_events (id, ts, project, agent_id, model, cost_source, received_at) VALUES ('x', 0, 'p', 'a', 'm', 'unpriced', 0)`).run();
    conn.prepare('UPDATE usage_daily SET input_tokens = input_tokens + 5').run();
    conn.close();
    const bad = runCli(['verify'], { DATABASE_URL: db });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toMatch(/differing from the raw sums \(either side\): 2/);
    expect(await runCli(['rebuild-rollups'], { DATABASE_URL: db }).exited).toBe(0);
    const good = runCli(['verify'], { DATABASE_URL: db });
    expect(await good.exited).toBe(0);
    expect(good.output()).toMatch(/integrity: ok; rollup rows differing from the raw sums \(either side\): 0/);
  });

  it('verify and backup name the database when there is none: they only read, so they make no file', async () => {
    const db = join(scratchDir('tokentally-cli-'), 'usage.db');
    for (const args of [['verify'], ['backup', join(scratchDir('tokentally-cli-'), 'copy.db')]]) {
      const run = runCli(args, { DATABASE_URL: db });
      expect(await run.exited).toBe(1);
      expect(run.output()).toContain(`cannot open the database ${db} (DATABASE_URL): unable to open database file (SQLITE_CANTOPEN); there is no such file (verify and backup only read: they make none)`);
    }
    expect(existsSync(db)).toBe(false);
  });

  it('prints the whole price table as JSON into a pipe, past the 64 KiB a pipe takes at once', () => {
    // Through a shell pipe, as `tokentally prices --json | jq` runs: Node writes into it without blocking.
    const json = execFileSync('sh', ['-c', `"${process.execPath}" "${CLI}" prices --json | cat`], { env: { PATH: process.env.PATH ?? '' }, maxBuffer: 64 * 1024 * 1024 });
    expect(json.length).toBeGreaterThan(64 * 1024);
    expect(JSON.parse(json.toString('utf8'))).toEqual(expect.arrayContaining([expect.objectContaining({ provider: 'openai', model: 'gpt-4o' })]));
  });

  it.each([['serve', '--help'], ['hash-key', '--help'], ['prices', '-h'], ['verify', '--help']])('prints the usage for %s %s and does nothing else', async (...args) => {
    const db = tempDb();
    const run = runCli(args, { DATABASE_URL: db, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/^usage: tokentally <command>/);
    expect(run.output()).not.toMatch(/listening|hash:|integrity/);
    expect(existsSync(db)).toBe(false);
  });

  it('rejects an unknown command with the usage', async () => {
    const run = runCli(['frobnicate'], {});
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/usage: tokentally/);
  });
});
