import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { openStore as openConfiguredStore } from '../../src/store/open.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { NO_RETRY } from '../../src/store/retry.js';
import { SqliteWriteThreads } from '../../src/store/sqlite-threads.js';
import { usageRecord } from '../support/records.js';
import { cleanup, openStore, OPTIONS, readOnly, records, tempDir, writeThreads } from '../support/store-files.js';
import { startTestService } from '../support/service.js';
import { turnsDuring } from '../support/turns.js';
import { until } from '../support/wait.js';

describe('SQLite inserts', () => {
  it.each([true, false])('tell new events from duplicates alike on the write thread and on the calling thread (write threads: %s)', async (writeThreads) => {
    const file = join(tempDir(), 'usage.db');
    const store = await openStore(file, writeThreads);
    const first = records('a', 3);
    expect(await store.insertBatch(first)).toEqual([true, true, true]);
    expect(await store.insertBatch([...records('b', 2), first[1]!, records('b', 1)[0]!])).toEqual([true, true, false, false]);
    const reader = readOnly(file);
    expect(reader.prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(5);
    expect(reader.prepare('SELECT SUM(events) FROM usage_daily').pluck().get()).toBe(5);
  });

  it('store every column of a record alike through the insert thread and on the calling thread', async () => {
    const full = usageRecord('full', {
      ts: Date.UTC(2026, 10, 2, 7, 8, 9, 123), project: 'proj', agent_id: 'agent', model: 'model', provider: 'provider', operation: 'chat',
      task_label: 'task', run_id: 'run', step_id: 'step', session_id: 'session', user_id: 'user', input_tokens: 1, output_tokens: 2,
      cache_read_tokens: 3, cache_write_tokens: 4, reasoning_tokens: 5, cost_nanos: 2 ** 53 - 1, cost_source: 'reported', duration_ms: 6,
      status: 'error', attributes: '{"k":"v é"}', received_at: Date.UTC(2026, 10, 2, 7, 8, 10),
    });
    const batch = [full, usageRecord('bare')];
    const stored = await Promise.all([true, false].map(async (threaded) => {
      const file = join(tempDir(), 'usage.db');
      expect(await (await openStore(file, threaded)).insertBatch(batch)).toEqual([true, true]);
      return readOnly(file).prepare('SELECT * FROM usage_events ORDER BY seq').all();
    }));
    expect(stored[0]).toEqual(stored[1]);
    expect(stored[0]).toEqual(batch.map((r, i) => ({ seq: i + 1, ...r })));
  });

  // Records cross to the insert thread packed (packed-rows.ts): the values a batch repeats once, as
  // UTF-8 bytes the statement casts back to text, and each part of a large batch with strings of its own.
  it('store every column alike through the insert thread and on the calling thread, for a batch sent in parts and for strings not well formed', async () => {
    const many = Array.from({ length: 2_500 }, (_, i) => usageRecord(`many-${i}`, {
      ts: Date.UTC(2026, 10, 2) + i, project: `proj-${i % 3}`, agent_id: `agent-${(i * 7) % 11} é`, model: `model-${i % 5}`,
      provider: i % 2 ? 'openai' : 'anthropic', operation: 'chat', task_label: `task-${i % 13}`, run_id: `run-${Math.floor(i / 25)}`,
      step_id: `step-${i}`, session_id: `session-${i % 4}`, user_id: `user-${i % 9}`, input_tokens: i, output_tokens: i * 3,
      cost_nanos: i * 1_000_003, cost_source: i % 2 ? 'computed' : 'reported', duration_ms: i % 10 ? i : null, status: i % 17 ? 'ok' : 'error',
      attributes: i % 3 ? `{"i":${i}}` : null, received_at: Date.UTC(2026, 10, 2, 1) + i,
    }));
    const odd = [
      usageRecord('odd-1', { project: 'half \ud83d', agent_id: '\udc00 alone', model: 'pair \ud83d\ude00', task_label: '\u0000 nul', step_id: 'x \ud800' }),
      usageRecord('odd-2', { project: 'half \ud83d', agent_id: 'plain', model: '日本語', run_id: 'x'.repeat(200), duration_ms: 0, cost_nanos: -0 }),
    ];
    const columns = 'seq, typeof(project), hex(id), hex(project), hex(agent_id), hex(model), hex(task_label), hex(step_id), run_id, duration_ms, cost_nanos';
    const stored = await Promise.all([true, false].map(async (threaded) => {
      const file = join(tempDir(), 'usage.db');
      const store = await openStore(file, threaded);
      expect(await store.insertBatch(many)).toEqual(many.map(() => true));
      expect(await store.insertBatch(odd)).toEqual([true, true]);
      const reader = readOnly(file);
      return { all: reader.prepare('SELECT * FROM usage_events ORDER BY seq').all(), raw: reader.prepare(`SELECT ${columns} FROM usage_events ORDER BY seq`).all() };
    }));
    expect(stored[0]!.raw).toEqual(stored[1]!.raw);
    expect(stored[0]!.all).toEqual(stored[1]!.all);
    expect(stored[0]!.all.slice(0, many.length)).toEqual(many.map((r, i) => ({ seq: i + 1, ...r })));
    expect(new Set(stored[0]!.raw.map((r) => (r as { 'typeof(project)': string })['typeof(project)']))).toEqual(new Set(['text']));
  });

  it.each([true, false])('tell the first of repeated ids from the rest across the many-row statements of a large batch (write threads: %s)', async (writeThreads) => {
    const file = join(tempDir(), 'usage.db');
    const store = await openStore(file, writeThreads);
    const stored = records('old', 10);
    await store.insertBatch(stored);
    // 130 records: two 50-row statements, then one of 30 rows; repeats within one statement, across
    // statements, into the last one, and of ids stored by the earlier batch.
    const fresh = records('new', 100);
    const batch = [
      ...fresh.slice(0, 20), fresh[10]!, ...fresh.slice(20, 60), fresh[3]!, stored[2]!, ...fresh.slice(60, 99),
      fresh[55]!, fresh[98]!, stored[9]!, ...records('tail', 24), fresh[99]!,
    ];
    const expected = batch.map((r, i) => !r.id.startsWith('old') && batch.findIndex((s) => s.id === r.id) === i);
    expect(batch).toHaveLength(130);
    expect(batch.slice(0, 50).filter((r) => r.id === fresh[10]!.id)).toHaveLength(2);
    expect(await store.insertBatch(batch)).toEqual(expected);
    const reader = readOnly(file);
    expect(reader.prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(134);
    expect(reader.prepare('SELECT SUM(events) FROM usage_daily').pluck().get()).toBe(134);
  });

  it('keep a process alive until its store is closed, and no longer', () => {
    // A program that inserts, closes the store and goes on: idle threads must neither keep it
    // running nor let it end while it waits for them.
    const dir = tempDir();
    const script = join(dir, 'program.mjs');
    writeFileSync(script, `
      import { SqliteStore } from ${JSON.stringify(join(PACKAGE_ROOT, 'dist', 'src', 'store', 'sqlite.js'))};
      const store = new SqliteStore(${JSON.stringify(join(dir, 'usage.db'))});
      await store.migrate();
      const record = ${JSON.stringify(records('e', 1)[0])};
      const batch = (i) => Array.from({ length: 500 }, (_, j) => ({ ...record, id: i + '-' + j }));
      await store.insertBatch(batch(9));
      // Closed with inserts still in hand: their replies, arriving after close, must not let go of the thread.
      const inFlight = [0, 1, 2].map((i) => store.insertBatch(batch(i)));
      await store.close();
      await Promise.all(inFlight);
      console.log('closed');`);
    const output = execFileSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
    expect(output.trim()).toBe('closed');
  });

  it('fail the inserts of a thread that stops, with its reason told as a failed attempt, and start a new thread for the next', async () => {
    const dir = join(tempDir(), 'not-yet');
    const file = join(dir, 'usage.db');
    const threads = new SqliteWriteThreads(file, OPTIONS, 5_000);
    cleanup.push(() => threads.close());
    const failures: string[] = [];
    const retry = { forMs: 5000, onFailure: (error: Error) => failures.push(error.message) };
    await expect(threads.insert(records('d', 2), retry)).rejects.toThrow(/the SQLite insert thread stopped: .*directory does not exist/);
    expect(failures).toEqual([expect.stringMatching(/the SQLite insert thread stopped: .*directory does not exist/)]);

    mkdirSync(dir);
    await openStore(file, false);
    expect(await threads.insert(records('d', 2), NO_RETRY)).toEqual([true, true]);
  });

  it('commit the batches that wait for the insert thread together, up to the events of one transaction, each told which of its records were new', async () => {
    const { file, threads } = await writeThreads(6);
    expect(await threads.insert(records('warm', 1), NO_RETRY)).toEqual([true]);
    // Another connection holds the write lock: each attempt fails, and the batch attempted is told.
    const lock = new Database(file);
    cleanup.push(() => lock.close());
    lock.exec('BEGIN IMMEDIATE');
    const failures = { a: 0, b: 0, c: 0, d: 0, shared: 0 };
    const retry = (batch: keyof typeof failures, forMs = 30_000) => ({ forMs, onFailure: () => failures[batch]++ });
    const a = threads.insert(records('a', 2), retry('a', 2_000));
    await until(() => failures.a > 0, 'the first attempt of batch a');
    // b, c, e and f arrive while a is retried; they (6 events) go in together, d would make 9. e and f
    // share one callback, as the writer's flushes do: it is told once an attempt, as b and c are.
    const [b, c, d, e, f] = [records('b', 2), [records('c', 1)[0]!, records('b', 1)[0]!], records('d', 3), records('e', 1), records('f', 1)];
    const shared = retry('shared');
    const results = [threads.insert(b, retry('b')), threads.insert(c, retry('c')), threads.insert(e, shared), threads.insert(f, shared), threads.insert(d, retry('d'))];
    await expect(a).rejects.toThrow(/database is locked/);
    await until(() => failures.b > 0 && failures.c > 0, 'an attempt of b, c, e and f together');
    expect(failures.d).toBe(0);
    lock.exec('ROLLBACK');
    expect(await Promise.all(results)).toEqual([[true, true], [true, false], [true], [true], [true, true, true]]);
    expect(failures.shared).toBe(failures.b);
    expect(failures.c).toBe(failures.b);
    const reader = readOnly(file);
    expect(reader.prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(9);
    expect(reader.prepare('SELECT SUM(events) FROM usage_daily').pluck().get()).toBe(9);
  });

  it('tell each record of a batch whether it was new, where stored ids, repeats and new ones share a statement or span several', async () => {
    const { file, threads } = await writeThreads(5_000);
    const stored = records('r', 180);
    expect(await threads.insert(stored.filter((_, i) => i % 3 === 0), NO_RETRY)).toEqual(stored.filter((_, i) => i % 3 === 0).map(() => true));
    // Every third record is stored already; record 10 comes again at the end, in the last statement;
    // one statement (rows 50-99 of the batch) is all repeats of stored ones.
    const batch = [...stored.slice(0, 50), ...stored.filter((_, i) => i % 3 === 0).slice(0, 50), ...stored.slice(50), stored[10]!];
    const expected = [...stored.slice(0, 50).map((_, i) => i % 3 !== 0), ...Array<boolean>(50).fill(false), ...stored.slice(50).map((_, i) => (50 + i) % 3 !== 0), false];
    expect(await threads.insert(batch, NO_RETRY)).toEqual(expected);
    expect(await threads.insert(batch, NO_RETRY)).toEqual(batch.map(() => false));
    const reader = readOnly(file);
    expect(reader.prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(180);
    expect(reader.prepare('SELECT SUM(events), SUM(input_tokens) FROM usage_daily').raw().get()).toEqual([180, (179 * 180) / 2]);
  });

  // A batch larger than one message goes to the insert thread in parts (sqlite-threads.ts): 1,024
  // records a message at most, fewer when their attributes are long.
  it('commit a batch sent in many messages whole, telling repeats within a message, across messages and of stored ids, in the order the batches were sent', async () => {
    const { file, threads } = await writeThreads(5_000);
    const stored = records('stored', 3);
    expect(await threads.insert(stored, NO_RETRY)).toEqual([true, true, true]);
    // 10,000 records, with 4 KiB of attributes from the 5,000th on (about 200 a message).
    const fresh = records('big', 10_000).map((r, i) => (i < 5_000 ? r : { ...r, attributes: JSON.stringify({ note: `${i}`.padEnd(4096, 'x') }) }));
    const big = [...fresh];
    big[20] = fresh[10]!; // within the first message
    big[1_300] = fresh[5]!; // in the second message, of one in the first
    big[9_999] = fresh[100]!; // in the last message, of one in the first
    big[7_000] = stored[1]!; // of a stored one
    const expected = big.map((r, i) => !r.id.startsWith('stored') && big.findIndex((s) => s.id === r.id) === i);
    // Sent right after the large one, so while it is still being handed over: committed after it.
    const after = [fresh[9_998]!, records('after', 1)[0]!];
    const [bigInserted, afterInserted] = await Promise.all([threads.insert(big, NO_RETRY), threads.insert(after, NO_RETRY)]);
    expect(bigInserted).toEqual(expected);
    expect(afterInserted).toEqual([false, true]);
    const reader = readOnly(file);
    const newOnes = expected.filter(Boolean).length;
    expect(newOnes).toBe(9_996);
    expect(reader.prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(3 + newOnes + 1);
    expect(reader.prepare(`SELECT COUNT(*) FROM usage_events WHERE id LIKE 'big-%' AND length(attributes) > 4096`).pluck().get()).toBe(fresh.slice(5_000).filter((r) => big.includes(r)).length);
    expect(reader.prepare('SELECT SUM(events) FROM usage_daily').pluck().get()).toBe(3 + newOnes + 1);
  });

  it('store nothing of a batch sent in many messages whose commit fails, and everything of it once the database takes it', async () => {
    const { file, threads } = await writeThreads(5_000);
    const lock = new Database(file);
    cleanup.push(() => lock.close());
    lock.exec('BEGIN IMMEDIATE');
    const batch = records('locked', 3_000);
    await expect(threads.insert(batch, { forMs: 300, onFailure: () => {} })).rejects.toThrow(/database is locked/);
    lock.exec('ROLLBACK');
    expect(readOnly(file).prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(0);
    expect(await threads.insert(batch, NO_RETRY)).toEqual(batch.map(() => true));
  });

  it('refuse a batch whose later message cannot be posted, storing none of it, and go on with the next', async () => {
    const { file, threads } = await writeThreads(5_000);
    const batch = records('unposted', 3_000);
    // A function cannot be cloned: the first messages go, the one holding it does not.
    (batch[2_500] as unknown as { attributes: unknown }).attributes = () => {};
    await expect(threads.insert(batch, NO_RETRY)).rejects.toThrow(/could not be cloned/);
    const next = records('unposted', 3_000);
    expect(await threads.insert(next, NO_RETRY)).toEqual(next.map(() => true));
    expect(readOnly(file).prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(3_000);
  });

  it.each(['on', 'off'])('serve ingestion and reports alike with SQLITE_WRITE_THREADS=%s', async (setting) => {
    const svc = await startTestService({ env: { SQLITE_WRITE_THREADS: setting } });
    cleanup.push(() => svc.close());
    const res = await svc.ingest('/v1/usage', { events: [{ id: 'x1', agent_id: 'a', model: 'm', input_tokens: 7 }, { id: 'x1', agent_id: 'a', model: 'm', input_tokens: 7 }] });
    expect(await res.json()).toMatchObject({ accepted: 1, duplicates: 1 });
    expect((await svc.report<{ totals: { input_tokens: number } }>('/v1/reports/usage?from=2000-01-01')).body.totals.input_tokens).toBe(7);
  });

  it.each([['on', true], ['off', false]] as const)('commit on the write threads exactly when SQLITE_WRITE_THREADS=%s says so', async (setting, threaded) => {
    const store = openConfiguredStore(loadConfig({ DATABASE_URL: join(tempDir(), 'usage.db'), SQLITE_WRITE_THREADS: setting }));
    cleanup.push(() => store.close());
    await store.migrate();
    await store.insertBatch(records('warm', 10));
    // An insert on the calling thread holds the event loop until it is done; one on a write thread
    // leaves it turning meanwhile.
    const { turns } = await turnsDuring(() => store.insertBatch(records('big', 20_000)));
    expect(turns > 5).toBe(threaded);
  });

  it('commit forward outbox bodies moved to the insert thread byte for byte, past the collections it runs after every few MiB of them', async () => {
    const store = await openStore(join(tempDir(), 'usage.db'), true);
    // 40 bodies of 128 KiB: 5 MiB, so the thread collects its young generation twice while they come.
    const bodies = Array.from({ length: 40 }, (_, i) => Buffer.allocUnsafeSlow(128 * 1024).fill(i + 1));
    const sent = bodies.map((body) => Buffer.from(body));
    await Promise.all(bodies.map((body, i) => store.insertBatch(records(`outbox-${i}`, 1), NO_RETRY, { outbox: [{ signal: 'traces', encoding: 'protobuf', body }] })));
    const stored: Buffer[] = [];
    await store.forwardOutbox('traces', { maxEntries: 100, maxBytes: 64 * 1024 * 1024 }, async (rows) => {
      stored.push(...rows.map((row) => Buffer.from(row.body)));
      return 0;
    });
    expect(stored.length).toBe(sent.length);
    expect(stored.every((body, i) => body.equals(sent[i]!))).toBe(true);
  });

  it('refuse a SQLITE_WRITE_THREADS that is neither on nor off, naming it', () => {
    expect(() => loadConfig({ SQLITE_WRITE_THREADS: 'yes' })).toThrow(/SQLITE_WRITE_THREADS="yes"/);
  });
});
