/** Starting built entry points as separate processes: used by the benchmark and the process tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS } from '../service/node-flags.js';
import { PACKAGE_ROOT } from '../src/paths.js';

export const CLI = join(PACKAGE_ROOT, 'dist', 'service', 'cli.js');

export interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts a built script with the given environment (nothing inherited but PATH) and Node flags. */
export function runScript(script: string, args: string[], env: Record<string, string>, nodeFlags: string[] = []): Running {
  return runCommand(process.execPath, [...nodeFlags, script, ...args], env);
}

/** Starts a program with the given environment (nothing inherited but PATH), its output collected. */
export function runCommand(command: string, args: string[], env: Record<string, string>): Running {
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Starts the built CLI, with the V8 flags its shebang and `npm start` give it. */
export function runCli(args: string[], env: Record<string, string>, nodeFlags: string[] = []): Running {
  return runScript(CLI, args, env, [...SERVICE_NODE_FLAGS, ...nodeFlags]);
}

/** Resolves with the URLs of the named apps once the process prints `<app> listening on <url>` for each. */
export async function waitForListening<A extends string>(run: Running, apps: readonly A[], timeoutMs = 20_000): Promise<Record<A, string>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const urls = apps.map((app) => new RegExp(`${app} listening on (\\S+)`).exec(run.output())?.[1]);
    if (urls.every(Boolean)) return Object.fromEntries(apps.map((app, i) => [app, urls[i]])) as Record<A, string>;
    if (run.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`service did not start:\n${run.output()}`);
}

/** Resolves with the two URLs once the service prints that both apps listen. */
export function waitForUrls(run: Running, timeoutMs?: number): Promise<{ collector: string; reporting: string }> {
  return waitForListening(run, ['collector', 'reporting'], timeoutMs);
}

/** Stops a process started here with SIGTERM (the service drains, then exits) and waits for it. */
export async function stop(run: Running): Promise<void> {
  run.child.kill('SIGTERM');
  await run.exited;
}

/** CPU time the process has used so far, all its threads, user and system, in seconds (Linux: /proc/<pid>/stat). */
export function cpuSeconds(run: Running): number {
  // Fields after the command name (which may hold spaces), from the 3rd: utime and stime are the 14th and 15th.
  const fields = readFileSync(`/proc/${run.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds so far of each thread of process `pid`, by thread id, from the kernel's run time in ns
 * (Linux: /proc/<pid>/task/<tid>/schedstat): what a load cost each thread, on a shared machine too.
 */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const seconds = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      seconds.set(Number(tid), Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9);
    } catch {
      // The thread ended meanwhile: its time stays in the process's.
    }
  }
  return seconds;
}

/** The process's peak resident set so far, in MB of 10^6 bytes as the target is set (Linux: VmHWM, in KiB). */
export function peakRssMB(run: Running): number {
  const status = readFileSync(`/proc/${run.child.pid}/status`, 'utf8');
  return (Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024) / 1e6;
}
