/**
 * One load of the benchmark in a process of its own (bench/client.ts starts it): takes the load
 * over IPC, builds its bodies, says it is ready, runs it on `go`, and sends back its figures with
 * the CPU time this process spent on the load.
 */
import { once } from 'node:events';
import { buildClient, measureClient, prepare, type ClientMessage, type ClientRequest } from './client.js';

const send = (message: ClientMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

try {
  const [load] = (await once(process, 'message')) as [ClientRequest];
  const { built: run, buildSeconds } = buildClient(() => prepare(load));
  // A full collection now rather than during the load: a fresh process's heap is small, and the bodies grew it.
  globalThis.gc?.();
  const go = once(process, 'message');
  await send({ ready: true, buildSeconds });
  await go;
  await send(await measureClient(run));
} catch (error) {
  await send({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
}
process.disconnect();
