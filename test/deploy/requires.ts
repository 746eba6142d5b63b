import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Why `command --version` cannot run here, or null when it can. */
export function missingCommand(command: string, args = ['--version']): string | null {
  const run = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 });
  if (run.error) return `${command} is not installed (${run.error.message})`;
  return run.status === 0 ? null : `${command} ${args.join(' ')} failed: ${(run.stderr || run.stdout).trim()}`;
}

/**
 * The suite `body` when `problem` is null. Otherwise a developer's run skips it, saying why, and
 * CI (CI set; .ci/run installs what these tests need) fails.
 */
export function describeIfAvailable(title: string, problem: string | null, body: () => void): void {
  if (problem === null) describe(title, body);
  else if (process.env.CI) describe(title, () => it('has what it needs to run', () => expect.fail(`${problem}; .ci/run must provide it before npm test`)));
  else {
    console.warn(`${title}: skipped, ${problem}`);
    describe.skip(`${title} (skipped: ${problem})`, () => it('needs tools this machine lacks', () => {}));
  }
}
