import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

/** Compiles dist/ once per test run, so process tests start exactly what `npm start` runs. */
export default function build(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
