import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_RETRY } from '../../src/store/retry.js';
import { cleanup, openStore, readOnly, records, tempDir, writeThreads } from '../support/store-files.js';
import { until } from '../support/wait.js';

/**
 * Watches SQLite's wal-index header at the start of the -shm file (native-order u32s): the WAL's
 * frames (mxFrame, byte 16), a drop of which is the WAL started over, and the frames copied into the
 * database file (nBackfill, byte 96), a rise of which is a checkpoint that copied something. The
 * checkpoint thread's come at least 200 ms apart; the insert thread's follows one within a few ms
 * (at most TAIL_COPY_WAIT_MS and a commit later). Counts the checkpoint thread's checkpoints, and
 * those after which the WAL did not start over before the next.
 */
function watchWal(file: string): { checkpoints: number; notStartedOver: number; times: number[] } {
  const header = Buffer.alloc(100);
  let shm: number | undefined;
  const seen = { frames: 0, copied: 0, lastCopy: -Infinity, checkpoints: 0, startedOver: true, notStartedOver: 0, times: [] as number[] };
  const poll = setInterval(() => {
    try {
      shm ??= openSync(`${file}-shm`, 'r');
      readSync(shm, header, 0, 100, 0);
    } catch {
      return;
    }
    const frames = header.readUInt32LE(16);
    const copied = header.readUInt32LE(96);
    if (frames < seen.frames) seen.startedOver = true;
    else if (copied > seen.copied && performance.now() - seen.lastCopy > 150) {
      // The checkpoint thread's: did the WAL start over since its last one?
      if (!seen.startedOver) seen.notStartedOver++;
      seen.checkpoints++;
      seen.times.push(performance.now());
      seen.startedOver = false;
    }
    if (copied > seen.copied) seen.lastCopy = performance.now();
    Object.assign(seen, { frames, copied });
  }, 1);
  cleanup.push(() => {
    clearInterval(poll);
    if (shm !== undefined) closeSync(shm);
  });
  return seen;
}

describe('SQLite checkpoints beside the insert thread', () => {
  it('copy committed pages into the database file in the background, long before the WAL reaches the backstop', async () => {
    const file = join(tempDir(), 'usage.db');
    const store = await openStore(file, true);
    const before = statSync(file).size;
    for (let batch = 0; batch < 10; batch++) await store.insertBatch(records(`c${batch}`, 1000));
    // 10,000 events take about 400 pages (1.5 MB), a fiftieth of the 20,000 at which the insert
    // thread would checkpoint by itself: only the checkpoint thread moves them into the file now.
    await until(() => statSync(file).size > before + 1_000_000, 'the checkpoint thread to grow the database file', 5000);
    expect(readOnly(file).prepare('SELECT COUNT(*) FROM usage_events').pluck().get()).toBe(10_000);
  });

  it('start the WAL over after each checkpoint while commits keep coming, instead of only at the backstop', async () => {
    const file = join(tempDir(), 'usage.db');
    const store = await openStore(file, true);
    const seen = watchWal(file);
    // Small batches, always one waiting, so commits land during the checkpoints: a commit that
    // lands during one leaves frames the checkpoint did not copy, and the WAL starts over only if
    // the insert thread copies them before its next commit.
    let next = 0;
    const committer = async () => {
      while (next < 4000) await store.insertBatch(records(`w${next++}`, 20));
    };
    await Promise.all([committer(), committer()]);
    expect(seen.checkpoints).toBeGreaterThan(3);
    expect(seen.notStartedOver).toBeLessThanOrEqual(seen.checkpoints / 6);
  }, 120_000);

  it('start the WAL over after each checkpoint also when a write always waits for the insert thread, whose copy then waits only a little', async () => {
    // One batch a transaction and eight submitters: after each commit seven batches still wait, so
    // the insert thread's copy, which waits for a moment when none does, runs only once it has
    // waited TAIL_COPY_WAIT_MS.
    const { file, threads } = await writeThreads(20);
    const seen = watchWal(file);
    let next = 0;
    const committer = async () => {
      while (next < 4000) await threads.insert(records(`a${next++}`, 20), NO_RETRY);
    };
    await Promise.all(Array.from({ length: 8 }, committer));
    expect(seen.checkpoints).toBeGreaterThan(3);
    expect(seen.notStartedOver).toBeLessThanOrEqual(seen.checkpoints / 6);
  }, 120_000);

  it('checkpoint at most every 500 ms while a write always waits for the insert thread, and about every 200 ms when each commit leaves it idle', async () => {
    const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);
    const load = async (submitters: number, prefix: string) => {
      const { file, threads } = await writeThreads(20);
      const seen = watchWal(file);
      const end = performance.now() + 3000;
      let next = 0;
      const committer = async () => {
        while (performance.now() < end) await threads.insert(records(`${prefix}${next++}`, 20), NO_RETRY);
      };
      await Promise.all(Array.from({ length: submitters }, committer));
      // Only the checkpoints of the load: its last commit leaves the thread idle.
      return gaps(seen.times.filter((t) => t < end));
    };
    // Eight submitters, one batch a transaction: after each commit seven batches still wait.
    const busy = await load(8, 'b');
    expect(busy.length).toBeGreaterThan(2);
    // The shm is polled from the main thread, which the submitters keep busy: tens of ms of slack.
    expect(Math.min(...busy)).toBeGreaterThanOrEqual(400);
    // One submitter in turn: nothing waits when a commit comes back.
    const idle = (await load(1, 'i')).sort((a, b) => a - b);
    expect(idle.length).toBeGreaterThan(5);
    expect(idle[Math.floor(idle.length / 2)]).toBeLessThan(350);
  }, 60_000);
});
