/**
 * The V8 flags the service runs with: the CLI's shebang, `npm start`, the image's entry point and the
 * benchmark all pass these (test/process/node-flags.test.ts holds them to it). V8 cannot take them
 * once the process runs.
 *
 * - With the default heap limit (a quarter of the machine's memory, 2 GB or more) V8 lets the old
 *   generation grow to up to four times what survived the last full collection before it collects
 *   again; under a 1 GB limit the factor is under two. Peak RSS then follows the data in hand (the
 *   queue and decoding limits bound it far below 1 GB) rather than the garbage: a churning 150 MB
 *   live set peaked at 584 MB by default and 328 MB with this flag (docs/benchmarks.md, "Peak RSS,
 *   session 8").
 * - The young generation: 8 MB semi-spaces instead of 16 take 16 MB off the main thread's peak; a
 *   request's records wait for their commit in the queue, not in the young generation. V8 flags hold
 *   for every isolate of the process, so this one caps the worker threads' semi-spaces too, over
 *   their `resourceLimits`.
 * - No memory reducer: when the load steps down, V8's memory reducer compacts an isolate whose
 *   allocation rate fell: the checkpoint thread's, in one to three pauses of 6-39 ms in half the
 *   rounds measured, which holds no lock but most likely takes a core from the threads answering
 *   requests. Without it no such pause ran, the peak RSS is the same, and an idle service keeps up
 *   to ~15 MB more until the next collection ("Service heap flags, session 16").
 */
export const SERVICE_NODE_FLAGS = ['--max-old-space-size=1024', '--max-semi-space-size=8', '--no-memory-reducer'] as const;
