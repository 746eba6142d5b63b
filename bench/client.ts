/**
 * Every timed load of the benchmark runs in a client process of its own, started for that load:
 * the benchmark process builds datasets and holds earlier loads' results, and a load generator in
 * it ran late in a long, large process (docs/benchmarks.md, "Load generator, session 9"). The child
 * (bench/client-child.ts) builds the load's bodies, says it is ready, runs the load when told to,
 * and sends back its figures and its own CPU time.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { logsBodies, runLogsLoad, type LogsLoadOptions } from './agent-logs.js';
import { runLoad, takePool, usageBodies, type LoadOptions, type LoadResult } from './load.js';
import { genAiTraceBodies, mixedTraceBodies, runMixedTraceLoad, runOtlpLoad, type TraceLoadOptions } from './otlp.js';

/** A load as the child builds and runs it: which generator, with which options. */
export type ClientLoad =
  | { kind: 'usage'; options: LoadOptions }
  | { kind: 'otlp' | 'mixed'; options: TraceLoadOptions }
  | { kind: 'logs'; options: LogsLoadOptions };

/** What the child is sent: a usage load also gets the first event of its pool, given out here so no two loads share one. */
export type ClientRequest = ClientLoad & { first: number };

/** The client process's own cost. */
export interface ClientCost {
  /** CPU time building the bodies, before the clock started. */
  buildSeconds: number;
  /** CPU time of the client process (all its threads) while the load ran. */
  cpuSeconds: number;
  /** Wall time of the load, as the client timed it. */
  seconds: number;
  /** Share of that time its event loop was busy (1: the client, not the service, set the pace). */
  loopBusy: number;
  /** Its full (mark-sweep) garbage collections meanwhile, and the time they took: each walks every live object of the process. */
  majorGcs: number;
  gcSeconds: number;
}

export type ClientResult = LoadResult & { client: ClientCost };

/** Messages from the child: ready once its bodies are built, then its result, or an error at any point. */
export type ClientMessage =
  | { ready: true; buildSeconds: number }
  | { result: LoadResult; client: Omit<ClientCost, 'buildSeconds'> }
  | { error: string };

/** Builds the load's bodies and returns what runs it with them. */
export function prepare(load: ClientRequest): () => Promise<LoadResult> {
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

const CHILD = join(import.meta.dirname, 'client-child.js');

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** Runs a load in this process and measures what it cost this process. */
export async function measureClient(run: () => Promise<LoadResult>): Promise<{ result: LoadResult; client: Omit<ClientCost, 'buildSeconds'> }> {
  const gc = { major: 0, ms: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.ms += entry.duration;
      if ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const cpuStarted = cpuSeconds();
  const loopStarted = performance.eventLoopUtilization();
  const started = performance.now();
  try {
    const result = await run();
    const seconds = (performance.now() - started) / 1000;
    const client = { cpuSeconds: cpuSeconds() - cpuStarted, seconds, loopBusy: performance.eventLoopUtilization(loopStarted).utilization };
    // The observer is called asynchronously: let it take the last entries.
    await new Promise((resolve) => setImmediate(resolve));
    return { result, client: { ...client, majorGcs: gc.major, gcSeconds: gc.ms / 1000 } };
  } finally {
    observer.disconnect();
  }
}

/** Builds a load's bodies in this process, and what that cost it in CPU time. */
export function buildClient<T>(build: () => T): { built: T; buildSeconds: number } {
  const started = cpuSeconds();
  const built = build();
  return { built, buildSeconds: cpuSeconds() - started };
}

export interface StartedClient {
  /** Runs the load (the child's clock starts now) and resolves with its figures. */
  go(): Promise<ClientResult>;
  /** Ends the child without running the load. */
  cancel(): void;
}

/** Starts a client process for `load` and resolves once it has built its bodies. */
export async function startClient(load: ClientLoad): Promise<StartedClient> {
  const request: ClientRequest = { ...load, first: load.kind === 'usage' ? takePool(load.options) : 0 };
  // --expose-gc: the child collects what building the bodies left before its clock starts.
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
  const messages: ClientMessage[] = [];
  let waiting: (() => void) | undefined;
  let exited = false;
  child.on('message', (m: ClientMessage) => {
    messages.push(m);
    waiting?.();
  });
  // 'close', not 'exit': a child's last messages may still be in the pipe when it exits. A fork or
  // send that fails ends the wait the same way.
  const ended = () => {
    exited = true;
    waiting?.();
  };
  child.on('close', ended);
  child.on('error', ended);
  const next = async (): Promise<ClientMessage> => {
    while (messages.length === 0) {
      if (exited) throw new Error(`the ${load.kind} client exited with code ${child.exitCode} before it answered`);
      await new Promise<void>((resolve) => (waiting = resolve));
    }
    const message = messages.shift()!;
    if ('error' in message) throw new Error(`the ${load.kind} client failed: ${message.error}`);
    return message;
  };
  child.send(request);
  /** `next()`, the child ended if it fails or answers what `expected` does not accept. */
  const expect = async <M extends ClientMessage>(expected: (m: ClientMessage) => m is M, what: string): Promise<M> => {
    try {
      const message = await next();
      if (!expected(message)) throw new Error(`the ${load.kind} client ${what}`);
      return message;
    } catch (error) {
      child.kill();
      throw error;
    }
  };
  const ready = await expect((m): m is Extract<ClientMessage, { ready: true }> => 'ready' in m, 'answered before it was ready');
  return {
    async go() {
      child.send('go');
      const done = await expect((m): m is Extract<ClientMessage, { result: LoadResult }> => 'result' in m, 'sent no result');
      return { ...done.result, client: { ...done.client, buildSeconds: ready.buildSeconds } };
    },
    cancel: () => child.kill(),
  };
}

/** A load in a fresh client process, run as soon as its bodies are built. */
export async function inFreshClient(load: ClientLoad): Promise<ClientResult> {
  return (await startClient(load)).go();
}

/** Several clients that build their bodies first and then run at the same moment, e.g. one per collector. */
export async function inFreshClients(loads: ClientLoad[]): Promise<ClientResult[]> {
  const started = await Promise.allSettled(loads.map(startClient));
  const clients = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    for (const c of clients) c.cancel();
    throw failed.reason;
  }
  // One client failing ends the others, so their load does not run on into the next measurement.
  return Promise.all(clients.map((c) => c.go().catch((error: unknown) => {
    for (const other of clients) other.cancel();
    throw error;
  })));
}
