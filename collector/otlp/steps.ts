/**
 * Work on one request cut into steps, so that a large request does not hold the event loop (issue
 * 17: no request more than ~50 ms): a generator that yields where it may pause. Run by an ingest
 * route it pauses whenever it has run for SLICE_MS, letting other requests, /healthz and the
 * writer's commits in; run by a test or a synchronous caller it runs to the end at once.
 */
export type Steps<T> = Generator<void, T, void>;

/** How long work runs before the event loop gets a turn: well within the ~50 ms a request may hold it. */
export const SLICE_MS = 10;

export function runNow<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

export async function runInSlices<T>(steps: Steps<T>): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() - sliceStart >= SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
}

/** How many records a step handles between two points where it may pause: the clock is read only there. */
export const RECORDS_PER_STEP = 64;
