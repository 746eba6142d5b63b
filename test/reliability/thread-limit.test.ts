import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runCli, waitForUrls, type Running } from '../../bench/server.js';
import { describeIfAvailable, missingCommand } from '../deploy/requires.js';
import { scratchDir } from '../support/scratch-dirs.js';
import { until } from '../support/wait.js';

/**
 * A process the system lets start no more threads, as at a container's pids limit: the service runs
 * in a pids cgroup of its own, whose limit the test sets to the threads the process has (or one
 * more), then lifts. Node throws from `new Worker` there rather than emitting an error; every place
 * that starts one of the service's threads must turn that into an answer to retry.
 */
const PIDS = '/sys/fs/cgroup/pids';

function cgroupProblem(): string | null {
  const dir = join(PIDS, `tokentally-probe-${process.pid}`);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, 'pids.max'), '1');
    rmdirSync(dir);
    return null;
  } catch (error) {
    return `cannot make a pids cgroup under ${PIDS} (${(error as Error).message}); it needs root and the cgroup v1 pids controller mounted there`;
  }
}

let running: Running | undefined;
let cgroup: string | undefined;
afterEach(async () => {
  running?.child.kill('SIGKILL');
  await running?.exited;
  running = undefined;
  if (cgroup && existsSync(cgroup)) rmdirSync(cgroup);
  cgroup = undefined;
});

/** The process in a cgroup of its own; `limit(extra)` lets it start `extra` threads more than it has, `lift()` any number. */
function confine(pid: number) {
  cgroup = join(PIDS, `tokentally-test-${pid}`);
  mkdirSync(cgroup);
  const dir = cgroup;
  writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  return {
    limit: (extra: number) => writeFileSync(join(dir, 'pids.max'), String(Number(readFileSync(join(dir, 'pids.current'), 'utf8')) + extra)),
    lift: () => writeFileSync(join(dir, 'pids.max'), 'max'),
  };
}

const event = (id: string) => ({ id, agent_id: 'coder', project: 'atlas', model: 'claude-sonnet-4-5', input_tokens: 1000, output_tokens: 10 });
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

/** `tokentally serve` on a fresh SQLite file, and the requests the tests make of it. */
async function serve() {
  running = runCli(['serve'], {
    DATABASE_URL: join(scratchDir('tokentally-threads-'), 'usage.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', BUDGET_EVALUATE_MS: '100',
  });
  const service = running;
  const urls = await waitForUrls(service);
  return {
    service,
    urls,
    send: (id: string) => fetch(`${urls.collector}/v1/usage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events: [event(id)] }) }),
    report: () => fetch(`${urls.reporting}/v1/reports/usage?from=2000-01-01`),
    check: () => fetch(`${urls.collector}/v1/budgets/check?project=atlas`),
  };
}

describeIfAvailable('a process at its limit of threads', cgroupProblem(), () => {
  it('answers 503 to what needs a thread it cannot start, keeps running, and starts them once it may', async () => {
    const { service, urls, send, report, check } = await serve();
    const pids = confine(service.child.pid!);

    // No thread at all: the insert thread is refused, the batch is not stored, and the answer says why; so does /readyz.
    pids.limit(0);
    const refused = await send('refused');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect(await errorOf(refused)).toMatchObject({
      code: 'storage_unavailable',
      message: "events not stored: could not start a SQLite insert thread: the system refused it (EAGAIN), as at a container's pids limit or ulimit -u; retry later",
    });
    const ready = await fetch(`${urls.collector}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/could not start a SQLite insert thread/);
    // So are the read threads: a report is 503, never a 500.
    const unread = await report();
    expect(unread.status).toBe(503);
    expect((await errorOf(unread)).message).toMatch(/^not answered: could not start a SQLite read thread: the system refused it/);

    // Room for the insert thread only (nothing else asks for one yet): the commit is answered although
    // the checkpoint thread it starts next is refused.
    pids.limit(1);
    expect((await send('one-thread')).status).toBe(200);
    await until(async () => /starting the checkpoint thread failed/.test(service.output()), 'the checkpoint thread refused');
    expect((await send('one-thread-again')).status).toBe(200);
    expect((await fetch(`${urls.collector}/readyz`)).status).toBe(200);

    // A budget is saved on the main thread's connection; its evaluator thread is refused, and tried again later.
    pids.limit(0);
    const put = await fetch(`${urls.reporting}/v1/budgets/daily`, {
      method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scope: { project: 'atlas' }, window: 'day', limit_usd: 1, thresholds: [50] }),
    });
    expect(put.status).toBe(201);
    await until(async () => /budgets: the evaluator thread failed, will try again \(the same failure is logged once\): could not start the budget evaluator thread/.test(service.output()), 'the evaluator thread refused');
    expect((await check()).status).toBe(503);

    pids.lift();
    expect((await send('lifted')).status).toBe(200);
    const totals = ((await (await report()).json()) as { totals: { events: number } }).totals;
    expect(totals.events).toBe(3);
    await until(async () => (await check()).status === 200, 'the budget evaluated');
    expect(await (await check()).json()).toMatchObject({ budgets: [{ budget_id: 'daily' }] });
    expect(service.child.exitCode).toBeNull();
    expect(service.output()).not.toMatch(/unexpected error|Uncaught|unhandled/i);
  });
});

/** Sets the soft limit of open files of process `pid` (its hard limit stays: raising the soft one back needs no privilege). */
const openFiles = (pid: number, soft: number) => execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);

describeIfAvailable('a process at its limit of open files', missingCommand('prlimit'), () => {
  it('answers 503 to what needs a thread that cannot have its files, and works once it can', async () => {
    const { service, urls, send, report } = await serve();
    const pid = service.child.pid!;
    // The connections the test uses are open before the limit, and used again (each answer read whole, so the connection is free).
    for (const url of [urls.collector, urls.reporting]) expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ status: 'ok' });
    const fds = () => readdirSync(`/proc/${pid}/fd`).map(Number);
    let last = '';
    await until(async () => {
      const now = fds().join();
      const still = now === last;
      last = now;
      await new Promise((r) => setTimeout(r, 200));
      return still;
    }, 'the service\'s files to hold still');
    const soft = Number(/^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))![1]);
    // Room for one more file (the lowest free number), not for a thread's event loop and files.
    const open = new Set(fds());
    let free = 0;
    while (open.has(free)) free++;
    openFiles(pid, free + 1);

    // Where the files run out (the thread's event loop, its script, the database) decides the words.
    const notStarted = (thread: string, stopped: string) => new RegExp(
      `(could not start a SQLite ${thread} thread: the system refused it \\(.*EMFILE.*\\), as at the limit of open files \\(ulimit -n\\)` +
      `|the database is unavailable \\(SQLITE_CANTOPEN: ${stopped}: .*\\)); retry later$`,
    );
    const refused = await send('refused');
    expect(refused.status).toBe(503);
    expect((await errorOf(refused)).message).toMatch(notStarted('insert', 'the SQLite insert thread stopped'));
    const unread = await report();
    expect(unread.status).toBe(503);
    expect((await errorOf(unread)).message).toMatch(notStarted('read', 'a SQLite read thread stopped'));

    openFiles(pid, soft);
    await until(async () => (await fetch(`${urls.collector}/readyz`)).status === 200, '/readyz once the files are there');
    expect((await send('stored')).status).toBe(200);
    const read = await report();
    expect(read.status).toBe(200);
    expect(((await read.json()) as { totals: { events: number } }).totals.events).toBe(1);
    expect(service.child.exitCode).toBeNull();
    expect(service.output()).not.toMatch(/unexpected error/);
  });
});
