import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { scratchDir } from '../support/scratch-dirs.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * The image's health check script against a real service, without Docker (docker.test.ts runs it
 * in the image): it probes the apps of its role where the settings put them, imports nothing of the
 * app, and is what the Dockerfile's HEALTHCHECK runs.
 */
const SCRIPT = join(PACKAGE_ROOT, 'deploy/healthcheck.mjs');

function check(role: string | undefined, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  // Only what the image sets: none of the test run's own settings.
  const child = spawn(process.execPath, role === undefined ? [SCRIPT] : [SCRIPT, role], { env: { PATH: process.env.PATH ?? '', ...env } });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

const portOf = (url: string) => new URL(url).port;

describe('deploy/healthcheck.mjs', () => {
  let svc: TestService;
  let closed: string;
  beforeAll(async () => {
    svc = await startTestService({ env: { HOST: '0.0.0.0' } });
    // A port nothing listens on: taken, then let go.
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closed = String((server.address() as { port: number }).port);
    await new Promise((resolve) => server.close(resolve));
  });
  afterAll(() => svc?.close());

  it('is healthy when the apps of its role are ready, on loopback for a wildcard HOST', async () => {
    const env = { HOST: '0.0.0.0', COLLECTOR_PORT: portOf(svc.collectorUrl), REPORTING_PORT: portOf(svc.reportingUrl) };
    expect(await check('serve', env)).toEqual({ code: 0, stderr: '' });
    expect(await check('collector', { ...env, REPORTING_PORT: closed })).toEqual({ code: 0, stderr: '' });
    expect(await check('reporting', { ...env, COLLECTOR_PORT: closed })).toEqual({ code: 0, stderr: '' });
    expect(await check('migrate', { ...env, COLLECTOR_PORT: closed, REPORTING_PORT: closed })).toEqual({ code: 0, stderr: '' });
    expect(await check('serve', { ...env, HOST: '127.0.0.1' })).toEqual({ code: 0, stderr: '' });
    // An empty setting is its default, as for the service: 127.0.0.1.
    expect(await check('serve', { ...env, HOST: '' })).toEqual({ code: 0, stderr: '' });
    // `::` on IPv4 loopback too: the service here listens on IPv4 only, as in an IPv4-only network.
    expect(await check('serve', { ...env, HOST: '::' })).toEqual({ code: 0, stderr: '' });
  });

  it('reads the ports from CONFIG_FILE where the environment leaves them unset, as the service does', async () => {
    const file = join(scratchDir('tokentally-healthcheck-'), 'tokentally.env');
    writeFileSync(file, `HOST=0.0.0.0\nCOLLECTOR_PORT=${portOf(svc.collectorUrl)}\nREPORTING_PORT=${closed}\n`);
    expect(await check('serve', { CONFIG_FILE: file, REPORTING_PORT: portOf(svc.reportingUrl) })).toEqual({ code: 0, stderr: '' });
    expect((await check('serve', { CONFIG_FILE: file })).stderr).toContain(`REPORTING_PORT: http://127.0.0.1:${closed}/readyz: ECONNREFUSED`);
  });

  it('is unhealthy, naming the setting, when an app of its role does not answer ready', async () => {
    const env = { HOST: '0.0.0.0', COLLECTOR_PORT: portOf(svc.collectorUrl), REPORTING_PORT: closed };
    const down = await check('serve', env);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`REPORTING_PORT: http://127.0.0.1:${closed}/readyz: ECONNREFUSED`);
    expect((await check('reporting', env)).code).toBe(1);
  });

  it('checks serve without an argument when PID 1 is not the entry point (as here)', async () => {
    const down = await check(undefined, { HOST: '0.0.0.0', COLLECTOR_PORT: portOf(svc.collectorUrl), REPORTING_PORT: closed });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`REPORTING_PORT: http://127.0.0.1:${closed}/readyz: ECONNREFUSED`);
  });

  it("is the Dockerfile's HEALTHCHECK, copied into the image, and imports only Node's own modules, not fetch", () => {
    const dockerfile = readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^HEALTHCHECK .* CMD \["node", "\/app\/deploy\/healthcheck\.mjs"\]$/m);
    expect(dockerfile).toMatch(/^COPY .*\bdeploy\/healthcheck\.mjs .*\.\/deploy\/$/m);
    const source = readFileSync(SCRIPT, 'utf8');
    const imports = [...source.matchAll(/\bimport\b[^'"]*['"]([^'"]+)['"]/g)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((name) => !name!.startsWith('node:'))).toEqual([]);
    // fetch's first use loads undici: 0.3 s of CPU, more than the rest of the check.
    expect(source).not.toMatch(/\bfetch\(/);
  });
});
