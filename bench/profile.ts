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
  ['validation (zod)', (url) => url.includes('/node_modules/zod/') || url.includes('/src/event/validate') || url.includes('/src/event/schema')],
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
  ms: number;
  share: number;
}

/**
 * Sums the CPU profiles in `dir` by pipeline stage: each sample counts for the nearest frame on its
 * stack that belongs to a stage, so time in a built-in (Array.map, a regex) is charged to the
 * project code that called it. Idle time is left out of the shares.
 */
export function summariseProfiles(dir: string): StageTime[] {
  const totals = new Map<string, number>();
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
    profile.samples.forEach((id, i) => {
      const stage = resolve(id);
      totals.set(stage, (totals.get(stage) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
    });
  }
  totals.delete('idle');
  const busy = [...totals.values()].reduce((a, b) => a + b, 0);
  return [...totals].map(([stage, ms]) => ({ stage, ms, share: ms / busy })).sort((a, b) => b.ms - a.ms);
}
