/**
 * The unpartitioned PostgreSQL schema as a build of its own, for `npm run bench -- --postgres` to
 * measure against in the same run: the last commit before the monthly partitions (the parent of the
 * commit that added migrations/postgres/0010_partitions.sql), unpacked with `git archive` into a
 * temp folder, given this checkout's node_modules and compiled with its tsc. The build is kept
 * under that commit's name, so later runs reuse it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/paths.js';

const PARTITIONS_MIGRATION = 'migrations/postgres/0010_partitions.sql';

const git = (args: string[]) => execFileSync('git', args, { cwd: PACKAGE_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/**
 * The first parent of the oldest commit that touches the partitions' migration (the merge that
 * brought it in: `--diff-filter=A` would miss a merge): its tree is the unpartitioned schema.
 */
function commitBeforePartitions(): string {
  const added = git(['rev-list', 'HEAD', '--', PARTITIONS_MIGRATION]).split('\n').at(-1);
  if (!added) throw new Error(`no commit adds ${PARTITIONS_MIGRATION} in this checkout's history`);
  return git(['rev-parse', `${added}^1`]);
}

/**
 * The CLI of the unpartitioned build: `TOKENTALLY_BASELINE_CLI` when set (another build made by
 * hand), else the build of the commit before the partitions, made now if not made before.
 */
export function baselineCli(log: (line: string) => void): { cli: string; commit: string | null } {
  const given = process.env.TOKENTALLY_BASELINE_CLI;
  if (given) return { cli: given, commit: null };
  const commit = commitBeforePartitions();
  const dir = join(tmpdir(), `tokentally-baseline-${commit.slice(0, 12)}`);
  const cli = join(dir, 'dist', 'service', 'cli.js');
  if (existsSync(cli)) {
    // Given this checkout's node_modules again: the checkout that made the build may be gone.
    linkModules(dir);
    return { cli, commit };
  }
  log(`    building the unpartitioned baseline ${commit.slice(0, 12)} in ${dir} (git archive + tsc)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('sh', ['-c', 'git archive --format=tar "$1" | tar -x -C "$2"', 'sh', commit, dir], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    linkModules(dir);
    execFileSync(process.execPath, [join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    // A half-made build must not pass for a made one next time.
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { cli, commit };
}

function linkModules(dir: string): void {
  const modules = join(dir, 'node_modules');
  rmSync(modules, { force: true });
  symlinkSync(join(PACKAGE_ROOT, 'node_modules'), modules, 'dir');
}
