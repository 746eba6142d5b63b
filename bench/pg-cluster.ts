/**
 * A throwaway PostgreSQL cluster for the tests and the benchmark: initdb into a temp folder, start
 * on a free local port, remove everything on stop. Runs the server as `postgres` when we are root
 * (PostgreSQL refuses to run as root).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface Cluster {
  /** Superuser URL of the `postgres` database, for creating and dropping others. */
  url: string;
  stop(): Promise<void>;
}

/** Where the server binaries are: `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin. */
export function findPostgresBin(): string | null {
  const has = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'));
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (has(dir)) return dir;
  } catch {
    // No pg_config on PATH: look where Debian installs the server.
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  return versions.map((v) => join(root, v, 'bin')).find(has) ?? null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

function postgresUser(): { uid: number; gid: number } {
  const lookup = () => execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
  try {
    lookup();
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/bin/sh', 'postgres']);
  }
  return { uid: Number(lookup()), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()) };
}

/**
 * `durable: false` turns fsync off, which suits tests; the benchmark keeps PostgreSQL's defaults so
 * a commit really reaches the disk.
 */
export async function startCluster(options: { durable: boolean }): Promise<Cluster> {
  const bin = findPostgresBin();
  if (!bin) {
    throw new Error('PostgreSQL server binaries not found (no pg_config --bindir, nothing in /usr/lib/postgresql/*/bin): install the Debian package `postgresql`');
  }
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-pg-'));
  const data = join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const { uid, gid } = postgresUser();
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const run = (tool: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : join(bin, tool), asRoot ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args, {
      cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
    });
  const port = await freePort();
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const settings = [
    `-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c max_connections=200',
    ...(options.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
  ];
  run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-o', settings.join(' '), 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
