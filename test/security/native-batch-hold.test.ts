import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { largestBatch } from '../../bench/large-batch.js';
import { loadConfig } from '../../src/config.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * The largest native batch the default limits take (10,000 events of about 5 KB, 50 MB decoded)
 * does not hold the event loop of the collector storing it (issue 17: no request more than ~50 ms).
 * The collector runs in this process; a timer every millisecond notes this thread's CPU time
 * (/proc, in the kernel's ticks of a few ms), and the most it grew between two firings is the
 * longest hold, whatever else takes the cores meanwhile. The body is sent by a process of its own.
 * Handed to the SQLite insert thread in one message, the records alone held it about 300 ms.
 */

/** Generous for a loaded 2-core machine (about 25 ms measured at load 15), far below the one-piece hand-over. */
const HOLD_WITHIN_MS = 150;

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.close());

const threadCpuMs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;

/** POSTs the gzipped file from another process; its status and answer. */
function postFromAnotherProcess(file: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const script = `fetch(process.argv[1], { method: 'POST', body: require('node:fs').readFileSync(process.argv[2]), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })
    .then(async (res) => process.stdout.write(JSON.stringify({ status: res.status, body: await res.json() })));`;
  const child = spawn(process.execPath, ['-e', script, `${svc.collectorUrl}/v1/usage`, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { status: number; body: Record<string, unknown> }) : reject(new Error(`client exited ${code}`)))));
}

/** Sends the events while noting the longest hold of this thread's CPU. */
async function sendWhileProbing(events: unknown[], name: string): Promise<{ status: number; body: Record<string, unknown>; longestHoldMs: number }> {
  const file = join(svc.dir, `${name}.json.gz`);
  const gzipped = gzipSync(JSON.stringify({ events }));
  const { MAX_BODY_BYTES } = loadConfig({});
  expect(gzipped.length).toBeLessThan(MAX_BODY_BYTES);
  writeFileSync(file, gzipped);
  let last = threadCpuMs();
  let longestHoldMs = 0;
  const probe = setInterval(() => {
    const now = threadCpuMs();
    longestHoldMs = Math.max(longestHoldMs, now - last);
    last = now;
  }, 1);
  try {
    const answer = await postFromAnotherProcess(file);
    return { ...answer, longestHoldMs: Math.max(longestHoldMs, threadCpuMs() - last) };
  } finally {
    clearInterval(probe);
  }
}

describe('the largest native batch the limits allow', () => {
  it('is stored exactly, repeats within it and of stored ids counted once, without holding the event loop', async () => {
    const events = largestBatch('largest');
    expect(Buffer.byteLength(JSON.stringify({ events }))).toBeGreaterThan(45 * 1024 * 1024);
    // Repeats of earlier events: in what goes to the insert thread as its first message, in a later one, in the last.
    events[20] = events[10]!;
    events[1_000] = events[5]!;
    events[9_999] = events[100]!;
    const first = await sendWhileProbing(events, 'first');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ accepted: 9_997, duplicates: 3, rejected: 0, errors: [] });
    expect(first.longestHoldMs).toBeLessThan(HOLD_WITHIN_MS);

    // Ten of them again, with ten new ones.
    const again = [...events.slice(1_000, 1_010), ...largestBatch('again').slice(0, 10)];
    const second = await sendWhileProbing(again, 'second');
    expect(second.body).toEqual({ accepted: 10, duplicates: 10, rejected: 0, errors: [] });

    const db = new Database(svc.databaseUrl, { readonly: true });
    try {
      const stored = new Set([...events, ...again].map((e) => e.id));
      expect(db.prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(stored.size);
      const expectedTokens = [...new Map([...events, ...again].map((e) => [e.id, e.input_tokens])).values()].reduce((a, b) => a + b, 0);
      expect(db.prepare('SELECT SUM(input_tokens) FROM usage_events').pluck().get()).toBe(expectedTokens);
      expect(db.prepare('SELECT SUM(events) FROM usage_daily').pluck().get()).toBe(stored.size);
      // The long attributes arrived whole.
      const sample = events[4_321]!;
      expect(JSON.parse(db.prepare('SELECT attributes FROM usage_events WHERE id = ?').pluck().get(sample.id) as string)).toEqual(sample.attributes);
    } finally {
      db.close();
    }
  }, 120_000);
});
