/**
 * One load of the benchmark in a process of its own (bench/client.ts starts it): takes the load
 * over IPC, builds its bodies, says it is ready, runs it on `go`, and sends back its figures with
 * the CPU time this process spent on the load.
 */
import { once } from 'node:events';
import { logsBodies, runLogsLoad } from './agent-logs.js';
import type { ClientMessage, ClientRequest } from './client.js';
import { runLoad, usageBodies, type LoadResult } from './load.js';
import { genAiTraceBodies, mixedTraceBodies, runMixedTraceLoad, runOtlpLoad } from './otlp.js';

/** Builds the load's bodies and returns what runs it with them. */
function prepare(load: ClientRequest): () => Promise<LoadResult> {
  switch (load.kind) {
    case 'usage': {
      const body = usageBodies(load.options, load.first);
      return () => runLoad(load.options, body);
    }
    case 'otlp': {
      const body = genAiTraceBodies(load.options.spans);
      return () => runOtlpLoad(load.options, body);
    }
    case 'mixed': {
      const body = mixedTraceBodies(load.options.spans);
      return () => runMixedTraceLoad(load.options, body);
    }
    case 'logs': {
      const body = logsBodies(load.options.batch);
      return () => runLogsLoad(load.options, body);
    }
  }
}

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

const send = (message: ClientMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

try {
  const [load] = (await once(process, 'message')) as [ClientRequest];
  const buildStarted = cpuSeconds();
  const run = prepare(load);
  const go = once(process, 'message');
  await send({ ready: true, buildSeconds: cpuSeconds() - buildStarted });
  await go;
  const cpuStarted = cpuSeconds();
  const loopStarted = performance.eventLoopUtilization();
  const started = performance.now();
  const result = await run();
  const seconds = (performance.now() - started) / 1000;
  const loopBusy = performance.eventLoopUtilization(loopStarted).utilization;
  await send({ result, client: { cpuSeconds: cpuSeconds() - cpuStarted, seconds, loopBusy } });
} catch (error) {
  await send({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
}
process.disconnect();
