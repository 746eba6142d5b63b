import { describe, expect, it } from 'vitest';
import { CHECKPOINT_INTERVAL_MS, CHECKPOINT_MIN_INTERVAL_MS, CHECKPOINT_RECORDS, checkpointWait } from '../../src/store/checkpoint-schedule.js';
import { TAIL_COPY_WAIT_MS } from '../../src/store/wal-tail-copy.js';

describe("the checkpoint thread's schedule", () => {
  it('waits CHECKPOINT_INTERVAL_MS from the end of the last checkpoint while few records were committed', () => {
    expect(CHECKPOINT_INTERVAL_MS).toBeGreaterThanOrEqual(1000);
    expect(checkpointWait(0, 1)).toBe(CHECKPOINT_INTERVAL_MS);
    expect(checkpointWait(CHECKPOINT_INTERVAL_MS - 300, CHECKPOINT_RECORDS - 1)).toBe(300);
    expect(checkpointWait(CHECKPOINT_INTERVAL_MS, 1)).toBe(0);
    expect(checkpointWait(Infinity, 1)).toBe(0);
  });

  it('comes sooner after CHECKPOINT_RECORDS, but never sooner than CHECKPOINT_MIN_INTERVAL_MS after the last', () => {
    expect(checkpointWait(0, CHECKPOINT_RECORDS)).toBe(CHECKPOINT_MIN_INTERVAL_MS);
    expect(checkpointWait(CHECKPOINT_MIN_INTERVAL_MS - 50, 10 * CHECKPOINT_RECORDS)).toBe(50);
    expect(checkpointWait(CHECKPOINT_MIN_INTERVAL_MS, CHECKPOINT_RECORDS)).toBe(0);
  });

  it("leaves the insert thread's copy time to run before the next checkpoint, so that continuous commits still start the WAL over after each", () => {
    expect(TAIL_COPY_WAIT_MS).toBeLessThan(CHECKPOINT_MIN_INTERVAL_MS);
  });
});
