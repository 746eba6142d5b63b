import type { BatchWriter } from '../writer.js';

/**
 * One export at a time per cumulative metric stream, in this process: from reading the stream's
 * committed point to the commit that moves it, so that an export and its retry (sent while the first
 * still waits for its commit) never count the same interval from the same point. Exports of other
 * streams run and share commits as ever. Across processes the store's check of the point counted from
 * (MetricStreamUpdate) does the same.
 */
export class StreamLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(streams: readonly string[], work: () => Promise<T>): Promise<T> {
    const before = streams.flatMap((s) => this.tails.get(s) ?? []);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    for (const s of streams) this.tails.set(s, mine);
    try {
      await Promise.all(before);
      return await work();
    } finally {
      release();
      for (const s of streams) if (this.tails.get(s) === mine) this.tails.delete(s);
    }
  }
}

const LOCKS = new WeakMap<BatchWriter, StreamLocks>();

/** The locks of the process's one writer. */
export function streamLocksOf(writer: BatchWriter): StreamLocks {
  let locks = LOCKS.get(writer);
  if (!locks) LOCKS.set(writer, (locks = new StreamLocks()));
  return locks;
}
