import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's time goes, from its script; undefined leaves it to the caller's stage. */
const STAGES: [stage: string, test: (url: string, name: string) => boolean][] = [
  ['idle', (_, name) => name === '(idle)'],
  ['garbage collection', (_, name) => name === '(garbage collector)'],
  ['JSON parse', (url, name) => url === '' && name === 'parse'],
  ['JSON stringify', (url, name) => url === '' && name === 'stringify'],
  // zod's own frames go to their caller: the event validation, or the OTLP request schema.
  ['validation', (url) => url.includes('/src/event/validate') || url.includes('/src/event/fast-validate') || url.includes('/src/event/schema')],
  ['OTLP pre-scan', (url) => url.includes('/collector/otlp/scan')],
  // protobufjs's decoders are generated at run time (anonymous, no script), and so is zod's code: they go to
  // their caller, parseProtobuf for the first.
  ['protobufjs decode', (url, name) => url.includes('/node_modules/protobufjs/') || (url.includes('/collector/otlp/decode') && name === 'parseProtobuf')],
  ['OTLP request schema (zod)', (url) => /\/collector\/otlp\/(decode|request|logs-request|metrics-request|common)\./.test(url)],
  ['OTLP mapping', (url) => /\/collector\/otlp\/(spans|span-memory|log-records|emitters|mapping)\./.test(url)],
  ['gRPC (grpc-js)', (url) => url.includes('/node_modules/@grpc/')],
  ['normalisation', (url) => url.includes('/src/event/normalise')],
  ['pricing', (url) => url.includes('/src/pricing/')],
  ['SQLite (better-sqlite3)', (url) => url.includes('/node_modules/better-sqlite3/') || url.includes('/src/store/')],
  ['queue and writer', (url) => url.includes('/collector/writer') || url.includes('/node_modules/p-queue/')],
  ['collector routes and body', (url) => url.includes('/collector/')],
  ['telemetry', (url) => url.includes('/src/telemetry') || url.includes('/node_modules/prom-client/') || url.includes('/node_modules/@opentelemetry/')],
  ['HTTP (Node, Hono)', (url) => url.startsWith('node:') || url.includes('/node_modules/hono/') || url.includes('/node_modules/@hono/')],
  ['other native / runtime', (_, name) => name === '(program)' || name === '(root)'],
];

export interface StageTime {
  stage: string;
  /** Over all threads, and on the main thread alone (where HTTP, decoding and mapping run). */
  ms: number;
  mainMs: number;
  share: number;
}

export interface ThreadTime {
  /** Node's thread id: 0 is the main thread, the others the SQLite threads. */
  thread: number;
  busyMs: number;
  profiledMs: number;
}

/**
 * Sums the CPU profiles in `dir` by pipeline stage: each sample counts for the nearest frame on its
 * stack that belongs to a stage, so time in a built-in (Array.map, a regex) is charged to the
 * project code that called it. Idle time is left out of the shares. Also says how busy each thread
 * was, which tells the one that limits the rate.
 */
export function summariseProfiles(dir: string): { stages: StageTime[]; threads: ThreadTime[] } {
  const totals = new Map<string, number>();
  const main = new Map<string, number>();
  const threads: ThreadTime[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const stageOf = new Map<number, string>();
    const resolve = (id: number): string => {
      const known = stageOf.get(id);
      if (known) return known;
      const { url, functionName } = byId.get(id)!.callFrame;
      const own = STAGES.find(([, test]) => test(url, functionName))?.[0];
      const up = parent.get(id);
      const stage = own ?? (up === undefined ? 'other' : resolve(up));
      stageOf.set(id, stage);
      return stage;
    };
    // Node names the files CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile.
    const thread = Number(file.split('.')[4]);
    let profiledMs = 0;
    let idleMs = 0;
    profile.samples.forEach((id, i) => {
      const stage = resolve(id);
      const ms = (profile.timeDeltas[i] ?? 0) / 1000;
      totals.set(stage, (totals.get(stage) ?? 0) + ms);
      if (thread === 0) main.set(stage, (main.get(stage) ?? 0) + ms);
      profiledMs += ms;
      if (stage === 'idle') idleMs += ms;
    });
    threads.push({ thread, busyMs: profiledMs - idleMs, profiledMs });
  }
  totals.delete('idle');
  const busy = [...totals.values()].reduce((a, b) => a + b, 0);
  return {
    stages: [...totals].map(([stage, ms]) => ({ stage, ms, mainMs: main.get(stage) ?? 0, share: ms / busy })).sort((a, b) => b.ms - a.ms),
    threads: threads.sort((a, b) => a.thread - b.thread),
  };
}
