import type { PinOrderMismatch } from './types.js';

/** How a requested pin order differs from the pinned set; null when it is exactly that set. */
export function pinOrderMismatch(pinned: ReadonlySet<string>, ids: readonly string[]): PinOrderMismatch | null {
  const wanted = new Set(ids);
  const mismatch = {
    missing: [...pinned].filter((id) => !wanted.has(id)).sort(),
    unexpected: [...wanted].filter((id) => !pinned.has(id)).sort(),
  };
  return mismatch.missing.length || mismatch.unexpected.length ? mismatch : null;
}
