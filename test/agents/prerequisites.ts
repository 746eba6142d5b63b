import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

/**
 * What running the published CLIs needs besides Node: the packages of this folder installed, and a
 * loopback-only network namespace. Kept apart from clis.ts, which reads the installed packages as
 * it loads, so a test can say what is missing before loading it.
 */

export const INSTALL_COMMAND = '(cd test/agents && npm ci --no-audit --no-fund)';

/** The packages clis.ts runs, Claude Code's native binary for this platform included. */
const PACKAGES = ['@anthropic-ai/claude-code', `@anthropic-ai/claude-code-${process.platform}-${process.arch}`, '@openai/codex', '@google/gemini-cli'];

/** The packages not installed in test/agents/node_modules. */
export function missingPackages(): string[] {
  const require = createRequire(join(REPO_ROOT, 'test', 'agents', 'package.json'));
  return PACKAGES.filter((name) => {
    try {
      require.resolve(`${name}/package.json`);
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * `command` run in a new network namespace holding only loopback, brought up. Root needs nothing
 * more; anyone else maps themselves to root in a new user namespace, which then owns the network
 * namespace.
 */
export function inLoopbackOnlyNamespace(command: string, args: string[]): { command: string; args: string[] } {
  const asRoot = process.getuid?.() === 0;
  return {
    command: 'unshare',
    args: [...(asRoot ? [] : ['--map-root-user']), '--net', 'sh', '-c', 'ip link set lo up && exec "$@"', 'loopback-only', command, ...args],
  };
}

/** Why no loopback-only namespace can be made here (no `unshare` or `ip`, not root, user namespaces off), or undefined. */
export function namespaceProblem(): string | undefined {
  const { command, args } = inLoopbackOnlyNamespace('true', []);
  const probe = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (probe.status === 0) return undefined;
  const why = probe.error?.message ?? (probe.stderr.trim() || `exit ${probe.status ?? probe.signal}`);
  return `cannot make a loopback-only network namespace (\`${command} ${args.join(' ')}\`: ${why}); it needs unshare (util-linux) and ip (iproute2), and root or unprivileged user namespaces`;
}
