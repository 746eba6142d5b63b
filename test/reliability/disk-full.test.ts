import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { CLI, runCommand, waitForUrls, type Running } from '../../bench/server.js';
import { SERVICE_NODE_FLAGS } from '../../service/node-flags.js';
import { describeIfAvailable } from '../deploy/requires.js';
import { scratchDir } from '../support/scratch-dirs.js';

/**
 * A real full disk: the service runs in a mount namespace of its own, its database on a small
 * tmpfs that a filler file all but fills. The test frees the room by removing the filler through
 * the service's own view of its files (/proc/<pid>/root). Root needs nothing more; anyone else
 * maps themselves to root in a new user namespace, which then owns the mount namespace.
 */
const unshare = (process.getuid?.() === 0 ? [] : ['--map-root-user']).concat('--mount');
const MOUNT = 'mount -t tmpfs -o size="$TMPFS_SIZE" tmpfs "$DIR"';

function namespaceProblem(): string | null {
  const probe = spawnSync('unshare', [...unshare, 'sh', '-c', MOUNT], { env: { ...process.env, DIR: scratchDir('tokentally-full-probe-'), TMPFS_SIZE: '1m' }, encoding: 'utf8', timeout: 10_000 });
  if (probe.status === 0) return null;
  return `cannot mount a tmpfs in a new mount namespace (unshare ${unshare.join(' ')}: ${probe.error?.message ?? (probe.stderr.trim() || `exit ${probe.status ?? probe.signal}`)}); it needs unshare (util-linux), and root or unprivileged user namespaces`;
}

/** `tokentally <command>` on a fresh tmpfs of `size` at `dir`, after `before` (shell, run in the namespace) has set it up. */
function onTmpfs(dir: string, size: string, before: string, command: string, env: Record<string, string>): Running {
  const script = `${MOUNT} && ${before} && exec "$0" "$@"`;
  return runCommand('unshare', [...unshare, 'sh', '-c', script, process.execPath, ...SERVICE_NODE_FLAGS, CLI, command], {
    DIR: dir, TMPFS_SIZE: size, CLI, DATABASE_URL: join(dir, 'usage.db'), ...env,
  });
}

const batch = (n: number) => ({
  events: Array.from({ length: 200 }, (_, i) => ({
    id: `batch-${n}-${i}`, agent_id: `agent-${n % 7}`, model: 'claude-sonnet-4-5', input_tokens: 1000 + i, output_tokens: 7,
    attributes: { note: 'x'.repeat(400) },
  })),
});

let running: Running | undefined;
afterEach(async () => {
  running?.child.kill('SIGKILL');
  await running?.exited;
  running = undefined;
});

describeIfAvailable('a full disk under the SQLite database', namespaceProblem(), () => {
  it('answers 503 while the disk is full, loses nothing it acknowledged, and takes events again once there is room', async () => {
    const dir = scratchDir('tokentally-full-');
    running = onTmpfs(dir, '24m', 'head -c 18000000 /dev/zero > "$DIR/filler"', 'serve', {
      COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', WRITE_RETRY_MS: '300',
    });
    const urls = await waitForUrls(running);
    const send = (n: number) => fetch(`${urls.collector}/v1/usage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch(n)) });
    let acked = 0;
    let input = 0;
    const ack = async (n: number, res: Response) => {
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ accepted: 200 });
      acked += 200;
      input += batch(n).events.reduce((sum, e) => sum + e.input_tokens, 0);
    };

    let refused: Response | undefined;
    for (let n = 0; n < 1000 && !refused; n++) {
      const res = await send(n);
      if (res.status === 200) await ack(n, res);
      else refused = res;
    }
    expect(acked).toBeGreaterThan(0);
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(((await refused!.json()) as { error: unknown }).error).toMatchObject({ code: 'storage_unavailable', message: expect.stringMatching(/SQLITE_FULL/) });
    expect((await fetch(`${urls.reporting}/v1/reports/usage?from=2000-01-01`)).status).toBe(200);

    rmSync(`/proc/${running.child.pid}/root${dir}/filler`);
    for (let n = 1000; n < 1005; n++) await ack(n, await send(n));

    const report = await fetch(`${urls.reporting}/v1/reports/usage?from=2000-01-01`);
    expect(((await report.json()) as { totals: unknown }).totals).toMatchObject({ events: acked, input_tokens: input });
    expect(running.child.exitCode).toBeNull();
  });

  it('stops at start with a message that names the database and says its disk is full', async () => {
    const dir = scratchDir('tokentally-full-');
    // The database is made while there is room; then the disk fills (head stops at its end).
    running = onTmpfs(dir, '8m', `"$0" ${SERVICE_NODE_FLAGS.join(' ')} "$CLI" migrate && { head -c 16000000 /dev/zero > "$DIR/filler" 2>/dev/null || true; }`, 'serve', {
      COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0',
    });
    expect(await running.exited).toBe(1);
    expect(running.output()).toMatch(new RegExp(`cannot open the database ${join(dir, 'usage.db')} \\(DATABASE_URL\\): disk I/O error \\(SQLITE_IOERR\\w*\\); its disk is full \\(0 bytes free\\)`));
  });

  it('stops at start with a message that says its filesystem has no free inodes, though it has room', async () => {
    const dir = scratchDir('tokentally-full-');
    // Files until no inode is left (a few bytes each, the room stays).
    running = onTmpfs(dir, '8m,nr_inodes=16', 'i=0; while touch "$DIR/f$i" 2>/dev/null; do i=$((i + 1)); done', 'serve', {
      COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0',
    });
    expect(await running.exited).toBe(1);
    expect(running.output()).toMatch(new RegExp(`cannot open the database ${join(dir, 'usage.db')} \\(DATABASE_URL\\): unable to open database file \\(SQLITE_CANTOPEN\\); its filesystem has no free inodes left \\(df -i\\)`));
  });
});
