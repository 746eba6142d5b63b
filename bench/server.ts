/** Starting the built CLI as a separate process: used by the benchmark and the process tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/paths.js';

export const CLI = join(PACKAGE_ROOT, 'dist', 'src', 'cli.js');

export interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts the built CLI with the given environment (nothing inherited but PATH). */
export function runCli(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Resolves with the two URLs once the service prints that both apps listen. */
export async function waitForUrls(run: Running, timeoutMs = 20_000): Promise<{ collector: string; reporting: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const collector = /collector listening on (\S+)/.exec(run.output())?.[1];
    const reporting = /reporting listening on (\S+)/.exec(run.output())?.[1];
    if (collector && reporting) return { collector, reporting };
    if (run.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`service did not start:\n${run.output()}`);
}

/** Resolves with the URL once one app (`collector` or `reporting`) prints that it listens. */
export async function waitForApp(run: Running, app: 'collector' | 'reporting', timeoutMs = 20_000): Promise<string> {
  const pattern = new RegExp(`${app} listening on (\\S+)`);
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    const url = pattern.exec(run.output())?.[1];
    if (url) return url;
    if (run.child.exitCode !== null) break;
  }
  throw new Error(`${app} did not start:\n${run.output()}`);
}
