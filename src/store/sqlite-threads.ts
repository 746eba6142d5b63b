import type { Worker } from 'node:worker_threads';
import type { UsageRecord } from '../event/schema.js';
import { FailureLog } from '../failure-log.js';
import { packRows } from './packed-rows.js';
import type { OutboxWrite, OutboxWritten, SqliteOptions } from './sqlite-connection.js';
import type { InsertRetry } from './retry.js';
import { fromThread, startThread } from './sqlite-thread-start.js';
import { exitFailure } from '../threads.js';
import type { BatchExtras, InsertParts } from './types.js';
import type { CheckpointDone, CheckpointRequest, InsertReply, InsertRequest, TailCheckpoint, WorkerData } from './sqlite-worker.js';

interface Waiting {
  resolve(result: boolean[] | OutboxWritten): void;
  reject(error: Error): void;
  onFailure(error: Error): void;
}

/** A message to the insert thread, with the buffers it moves there. */
interface Posted {
  message: Exclude<InsertRequest, 'close'>;
  transfer: ArrayBuffer[];
}

interface Outgoing {
  thread: Worker;
  id: number;
  /** Undefined: the next is not ready yet (an insert in parts whose next part has not come). */
  messages: Iterator<Posted | undefined>;
  posted: number;
}

/** Records of an insert as they come: `last` says no more follow. */
interface Piece {
  records: readonly UsageRecord[];
  last: boolean;
}

/**
 * A batch goes to the insert thread in messages of at most MESSAGE_RECORDS records and about
 * MESSAGE_BYTES: cloned whole, 10,000 records of 5 KB took 350 ms of the main thread's CPU in one
 * piece (most of it faulting in a fresh 50 MB message); in parts, the largest batch holds it about
 * 20 ms at most (docs/benchmarks.md, "Native batch hold, session 11"). A batch of 1,000 ordinary
 * records, the hot path's (attributes of a few dozen characters), still goes in one.
 */
const MESSAGE_RECORDS = 1024;
const MESSAGE_BYTES = 2 * 1024 * 1024;
/** A record's bytes in a message, roughly: its attributes, plus at most a few KiB for the rest (a dimension takes at most 256 characters). */
const messageBytes = (record: UsageRecord) => 1024 + (record.attributes?.length ?? 0);
/** How long the hand-over posts before the event loop gets a turn. */
const HANDOVER_SLICE_MS = 5;
/** A checkpoint thread the system refused is asked for again after this, not at every commit. */
const THREAD_RETRY_MS = 1_000;

/**
 * The messages of one insert, its records taken from `next` as they come (undefined: not yet, the
 * hand-over stops there until more come). The first carries the extras (and the buffers they move);
 * each says `more` while messages follow; the insert thread commits it once it has them all. Each
 * message's records are packed as it is posted, so a large batch's packing is spread over the
 * hand-over's turns as its posting is.
 */
function* insertMessages(id: number, next: () => Piece | undefined, retryForMs: number, extras: BatchExtras | undefined, transfer: ArrayBuffer[]): Generator<Posted | undefined> {
  let first = true;
  for (;;) {
    const piece = next();
    if (!piece) {
      yield undefined;
      continue;
    }
    const messages = messageRecords(piece.records);
    for (let m = 0; m < messages.length; m++) {
      const rows = packRows(messages[m]!);
      const more = !piece.last || m < messages.length - 1;
      const buffer = rows.numbers.buffer as ArrayBuffer;
      yield first
        ? { message: { id, records: rows, retryForMs, ...(extras && { extras }), ...(more && { more }) }, transfer: [...transfer, buffer] }
        : { message: { id, part: rows, ...(more && { more }) }, transfer: [buffer] };
      first = false;
    }
    if (piece.last) return;
  }
}

/** Records cut into the messages that carry them: at least one, within MESSAGE_RECORDS and MESSAGE_BYTES each. */
function messageRecords(records: readonly UsageRecord[]): (readonly UsageRecord[])[] {
  const ends: number[] = [];
  let bytes = 0;
  for (let i = 0, start = 0; i < records.length; i++) {
    const size = messageBytes(records[i]!);
    if (i > start && (i - start === MESSAGE_RECORDS || bytes + size > MESSAGE_BYTES)) {
      ends.push(i);
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (ends.length === 0) return [records];
  ends.push(records.length);
  return ends.map((end, i) => records.slice(i === 0 ? 0 : ends[i - 1], end));
}

/**
 * The main thread's side of the insert and checkpoint threads (see sqlite-worker.ts). Started on
 * the first insert; a thread that dies fails what it had in hand and is started again on the next.
 * Once closed, inserts are refused, as by a closed connection.
 */
export class SqliteWriteThreads {
  private insertThread: Worker | undefined;
  private checkpointThread: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private closed = false;
  /** Requests whose messages are not all posted yet, oldest first. */
  private readonly outgoing: Outgoing[] = [];
  /** A turn of handOver is due: the next request's messages wait for it. */
  private handingOver = false;
  private readonly checkpointStarts = new FailureLog('SQLite: starting the checkpoint thread');
  private checkpointRefusedAt = Number.NEGATIVE_INFINITY;
  /** Whether the current insert thread got set up (see insertThreadReady). */
  private insertReady: Promise<void> | undefined;

  constructor(
    private readonly file: string,
    private readonly options: SqliteOptions,
    /** Events in one transaction at most: the insert thread commits the batches waiting for it together up to this. */
    private readonly maxBatchEvents: number,
  ) {}

  /**
   * Hands the batch to the insert thread, which retries it there: nothing here keeps the records
   * once they are posted. Outbox bodies that own their memory move there instead of being copied
   * twice (serialised and read back): a request waiting for its commit would otherwise hold its copy
   * into V8's old generation, and the insert thread its own until its next collection.
   */
  insert(records: readonly UsageRecord[], retry: InsertRetry, extras?: BatchExtras): Promise<boolean[]> {
    const moved = new Set<ArrayBuffer>();
    for (const { body } of extras?.outbox ?? []) if (body.buffer instanceof ArrayBuffer && body.byteLength === body.buffer.byteLength) moved.add(body.buffer);
    const pieces: Piece[] = [{ records, last: true }];
    return this.send((id) => insertMessages(id, () => pieces.shift(), retry.forMs, extras, [...moved]), retry) as Promise<boolean[]>;
  }

  /**
   * An insert whose records come in parts (see InsertParts), committed in one transaction once the
   * last has come. Begun on an idle insert thread, it inserts each part as it comes.
   */
  insertInParts(retry: InsertRetry): InsertParts {
    const pieces: Piece[] = [];
    let outgoing: Outgoing | undefined;
    const inserted = this.send((id) => insertMessages(id, () => pieces.shift(), retry.forMs, undefined, []), retry, (o) => (outgoing = o)) as Promise<boolean[]>;
    // Its failure is the caller's once it ends the insert, not before.
    inserted.catch(() => {});
    const piece = (records: readonly UsageRecord[], last: boolean) => {
      pieces.push({ records, last });
      this.handOver();
    };
    return {
      add: (records) => piece(records, false),
      end: (records) => {
        piece(records, true);
        return inserted;
      },
      abort: () => {
        if (!outgoing) return;
        this.drop(outgoing, new Error('the insert was abandoned'));
        // What waited behind it goes now.
        this.handOver();
      },
    };
  }

  /** An outbox delete or trim, in turn with the inserts. */
  writeOutbox(outbox: OutboxWrite, retry: InsertRetry): Promise<OutboxWritten> {
    return this.send((id) => [{ message: { id, outbox, retryForMs: retry.forMs }, transfer: [] }], retry) as Promise<OutboxWritten>;
  }

  /** `sent`: told of the request's outgoing messages, so it can be dropped before they are all posted. */
  private send(messages: (id: number) => Iterable<Posted | undefined>, retry: InsertRetry, sent?: (outgoing: Outgoing) => void): Promise<boolean[] | OutboxWritten> {
    return new Promise((resolve, reject) => {
      // Once closed, or with a thread the system refuses, this request fails (503); the next one tries again.
      const thread = this.insertThreadStarted(retry.onFailure);
      const id = this.nextId++;
      this.waiting.set(id, { resolve, reject, onFailure: retry.onFailure });
      // Only a thread with work in hand keeps the process alive.
      thread.ref();
      const outgoing: Outgoing = { thread, id, messages: messages(id)[Symbol.iterator](), posted: 0 };
      sent?.(outgoing);
      this.outgoing.push(outgoing);
      this.handOver();
    });
  }

  /**
   * Posts what waits to go, in the order sent (the insert thread commits in that order), giving the
   * event loop a turn whenever it has posted for HANDOVER_SLICE_MS: a batch that fits in a slice
   * goes at once, a larger one over several turns.
   */
  private handOver(): void {
    if (this.handingOver) return;
    const sliceStart = performance.now();
    while (this.outgoing.length > 0) {
      const head = this.outgoing[0]!;
      try {
        // Making the next message packs its records, so it fails as posting does.
        const next = this.waiting.has(head.id) ? head.messages.next() : undefined;
        // Done, or failed meanwhile with the thread it was going to.
        if (!next || next.done) {
          this.outgoing.shift();
          continue;
        }
        // Its next part has not come: what is behind it waits too, as the thread commits in order.
        if (!next.value) return;
        head.thread.postMessage(next.value.message, next.value.transfer);
        head.posted++;
      } catch (error) {
        this.drop(head, error as Error);
        continue;
      }
      if (performance.now() - sliceStart >= HANDOVER_SLICE_MS) {
        this.handingOver = true;
        setImmediate(() => {
          this.handingOver = false;
          this.handOver();
        });
        return;
      }
    }
  }

  /** Fails a request whose messages are not all posted; the thread lets go of those it has. */
  private drop(outgoing: Outgoing, error: Error): void {
    const at = this.outgoing.indexOf(outgoing);
    if (at === -1) return;
    this.outgoing.splice(at, 1);
    if (this.waiting.has(outgoing.id)) this.settle(outgoing.thread, outgoing.id).reject(error);
    if (outgoing.posted > 0) outgoing.thread.postMessage({ id: outgoing.id, dropped: true } satisfies InsertRequest);
  }

  /** Takes request `id` off the waiting list, letting the thread go once nothing else waits. */
  private settle(thread: Worker, id: number): Waiting {
    const waiting = this.waiting.get(id)!;
    this.waiting.delete(id);
    // Once closing, waiting for the thread's exit keeps the process alive (see close).
    if (this.waiting.size === 0 && !this.closed) thread.unref();
    return waiting;
  }

  async close(): Promise<void> {
    this.closed = true;
    // The inserts already sent are committed before the thread closes, as those posted whole are.
    while (this.outgoing.length > 0) await new Promise((resolve) => setImmediate(resolve));
    await Promise.all([this.insertThread, this.checkpointThread].map(async (thread) => {
      if (!thread) return;
      const exited = new Promise((resolve) => thread.once('exit', resolve));
      // Waiting on it must keep the process alive, like an insert in hand.
      thread.ref();
      thread.postMessage('close' satisfies InsertRequest & CheckpointRequest);
      await exited;
    }));
    this.insertThread = this.checkpointThread = undefined;
  }

  /**
   * The insert thread, started if need be. A thread the system refuses is told to `onFailure` as a
   * failed write is (for /readyz and the storage error count), then thrown.
   */
  insertThreadStarted(onFailure?: (error: Error) => void): Worker {
    if (this.closed) throw new Error('the SQLite store is closed');
    try {
      return (this.insertThread ??= this.startInsertThread());
    } catch (error) {
      onFailure?.(error as Error);
      throw error;
    }
  }

  /**
   * Resolves once the insert thread, started if need be, has its connection open; rejects with why
   * it stopped before (THREAD_NOT_STARTED for one that could not be set up, out of file descriptors:
   * Node then reports it after the start). What the readiness probe waits for.
   */
  insertThreadReady(): Promise<void> {
    this.insertThreadStarted();
    return this.insertReady!;
  }

  private startInsertThread(): Worker {
    const thread = this.start('insert');
    // Only a thread with work in hand keeps the process alive (send), not one a probe started.
    thread.unref();
    const { ready, setUp, notSetUp } = readiness();
    this.insertReady = ready;
    thread.on('message', (reply: InsertReply) => {
      if (reply === 'ready') return setUp();
      if ('failed' in reply) {
        const error = fromThread(reply.failed);
        for (const onFailure of new Set(reply.ids.map((id) => this.waiting.get(id)!.onFailure))) onFailure(error);
        return;
      }
      const waiting = this.settle(thread, reply.id);
      if ('error' in reply) return waiting.reject(fromThread(reply.error));
      waiting.resolve('wrote' in reply ? reply.wrote : reply.inserted);
      // Writes still in hand: the insert thread goes on committing (checkpoint-due.ts).
      if (!this.closed) this.checkpointer()?.postMessage((this.waiting.size > 0 ? 'busy' : 'idle') satisfies CheckpointRequest);
    });
    const exited = exitFailure(thread, 'a SQLite insert thread', 'the SQLite insert thread stopped');
    thread.on('exit', () => {
      if (this.insertThread === thread) this.insertThread = undefined;
      // The batches went with the thread: they fail now, and their requests get 503 to retry.
      const failure = exited();
      notSetUp(failure);
      for (const waiting of this.waiting.values()) {
        waiting.onFailure(failure);
        waiting.reject(failure);
      }
      this.waiting.clear();
    });
    return thread;
  }

  /**
   * The checkpoint thread, started if need be. None while the system refuses it, tried again at most
   * every second: the commits go on, and the insert connection's own backstop checkpoints within the
   * commit that takes the WAL past 80 MB (sqlite-worker.ts).
   */
  private checkpointer(): Worker | undefined {
    if (this.checkpointThread || performance.now() - this.checkpointRefusedAt < THREAD_RETRY_MS) return this.checkpointThread;
    try {
      this.checkpointThread = this.startCheckpointThread();
    } catch (error) {
      this.checkpointRefused(error as Error);
    }
    return this.checkpointThread;
  }

  private checkpointRefused(error: Error): void {
    this.checkpointRefusedAt = performance.now();
    this.checkpointStarts.failed(error);
  }

  private startCheckpointThread(): Worker {
    const thread = this.start('checkpoint');
    thread.unref();
    let ready = false;
    thread.on('message', (done: CheckpointDone) => {
      if (done === 'ready') {
        ready = true;
        return this.checkpointStarts.succeeded();
      }
      // What was committed during its checkpoint, the insert thread copies before its next commit (sqlite-worker.ts).
      this.insertThread?.postMessage('checkpoint' satisfies TailCheckpoint);
    });
    const exited = exitFailure(thread, 'a SQLite checkpoint thread', 'the SQLite checkpoint thread stopped');
    thread.on('exit', () => {
      if (this.checkpointThread === thread) this.checkpointThread = undefined;
      // One that could not be set up is told, and asked for again later, as one the system refused at once.
      if (!ready && !this.closed) this.checkpointRefused(exited());
    });
    return thread;
  }

  private start(role: WorkerData['role']): Worker {
    return startThread(role, this.file, this.options, this.maxBatchEvents);
  }
}

/** A thread's set-up, as a promise a probe may wait for; never an unhandled rejection when none does. */
function readiness(): { ready: Promise<void>; setUp: () => void; notSetUp: (error: Error) => void } {
  let setUp!: () => void;
  let notSetUp!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    setUp = resolve;
    notSetUp = reject;
  });
  ready.catch(() => {});
  return { ready, setUp, notSetUp };
}
