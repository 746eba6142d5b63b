import { describe, expect, it } from 'vitest';
import { copyTailNow, TAIL_COPY_WAIT_MS } from '../../src/store/wal-tail-copy.js';

describe("the insert thread's copy of the WAL's rest", () => {
  it('runs at once when no write waits for the thread', () => {
    expect(copyTailNow(1000, 0, 1000)).toBe(true);
  });

  it('lets the writes waiting go first, until it has waited TAIL_COPY_WAIT_MS', () => {
    expect(copyTailNow(1000, 1, 1000)).toBe(false);
    expect(copyTailNow(1000, 3, 1000 + TAIL_COPY_WAIT_MS - 1)).toBe(false);
    expect(copyTailNow(1000, 3, 1000 + TAIL_COPY_WAIT_MS)).toBe(true);
  });

  it("waits less than the checkpoint thread's interval, so that continuous commits still start the WAL over after each checkpoint", () => {
    expect(TAIL_COPY_WAIT_MS).toBeLessThan(200);
  });
});
