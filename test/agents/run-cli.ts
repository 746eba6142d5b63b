import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TOOL_FILE, type CliSpec, type Launch, type Protocol } from './clis.js';
import { RESOLV_CONF_LOOPBACK, startDnsRecorder, type DnsQuery } from './dns-recorder.js';
import { startFakeModel, type ModelCall } from './fake-model.js';
import { REPO_ROOT } from './paths.js';
import { inLoopbackOnlyNamespace } from './prerequisites.js';
import { startCapture, type CapturedRequest, type CaptureOptions } from './otlp-capture.js';

/**
 * One run of one CLI over one OTLP protocol: a fresh HOME and working directory, a fresh fake model
 * server and capture receiver, the CLI run to its exit. Everything an exporter sends is sent before
 * the process exits (each CLI flushes on shutdown), so the capture is complete when the run returns.
 */

export interface RunResult {
  launch: Launch;
  /** Temp folder that held HOME and the working directory (removed after the run), for scrubbing paths out of captures. */
  root: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  modelCalls: ModelCall[];
  unhandledModelRequests: { method: string; path: string }[];
  otlp: CapturedRequest[];
  /** Host names the CLI looked up (undefined when DNS was not recorded). */
  dnsQueries: DnsQuery[] | undefined;
}

export interface RunOptions extends CaptureOptions {
  /** Kill the CLI after this long. */
  timeoutMs?: number;
  /** Write every model request body here (see fake-model.ts). */
  dumpDir?: string;
  /** Send the CLI's telemetry here (e.g. a real tokentally) instead of to a capture receiver. */
  otlp?: { httpUrl: string; grpcUrl: string };
  /** Record DNS lookups on 127.0.0.1:53 (one run at a time; see isolated.sh). */
  recordDns?: boolean;
  /** Change the launch before it runs (e.g. drop a setting to see the CLI's default). */
  adjust?: (launch: Launch) => Launch;
  /**
   * Run the CLI alone in a fresh loopback-only network namespace (`unshare --net`), while the fake
   * model and the OTLP receiver stay in this process's namespace, reached through unix-socket
   * bridges on the same 127.0.0.1 ports (loopback-bridge.mjs). For a test process that cannot
   * itself run inside isolated.sh; needs root, or unprivileged user namespaces.
   */
  isolate?: boolean;
}

/** Refuses to run outside a loopback-only network namespace, so nothing a CLI tries can leave the machine. */
export function assertLoopbackOnly(): void {
  // /proc/net/dev lists the interfaces of this process's network namespace (/sys/class/net may not).
  const interfaces = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((line) => line.split(':')[0]!.trim()).filter(Boolean);
  if (interfaces.some((name) => name !== 'lo')) {
    throw new Error(`network interfaces besides lo are present (${interfaces.join(', ')}): run inside test/agents/isolated.sh`);
  }
}

/** Whether host lookups go to 127.0.0.1, where a DNS recorder can hear them (isolated.sh arranges it). */
export function dnsComesHere(): boolean {
  return RESOLV_CONF_LOOPBACK.test(readFileSync('/etc/resolv.conf', 'utf8'));
}

export async function runCli(spec: CliSpec, protocol: Protocol, options: RunOptions = {}): Promise<RunResult> {
  const root = mkdtempSync(join(tmpdir(), `tokentally-agent-${spec.name}-`));
  const home = join(root, 'home');
  const work = join(root, 'work');
  mkdirSync(join(home, 'tmp'), { recursive: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, TOOL_FILE.name), TOOL_FILE.content);

  const model = await startFakeModel({ toolFile: { absolute: join(work, TOOL_FILE.name), relative: TOOL_FILE.name }, dumpDir: options.dumpDir });
  const capture = options.otlp ? undefined : await startCapture({ failFirst: options.failFirst, ports: options.ports, forward: options.forward, loseFirstAnswers: options.loseFirstAnswers });
  const dns = options.recordDns ? await startDnsRecorder() : undefined;
  try {
    const otlp = options.otlp ?? { httpUrl: capture!.httpUrl, grpcUrl: capture!.grpcUrl };
    const launched = spec.launch({ home, work, modelUrl: model.url, otlp, protocol });
    const launch = options.adjust ? options.adjust(launched) : launched;
    for (const [path, content] of Object.entries(launch.files)) {
      mkdirSync(dirname(join(home, path)), { recursive: true });
      writeFileSync(join(home, path), content);
    }
    const bridge = options.isolate ? await bridgePorts(join(root, 'sockets'), [model.url, otlp.httpUrl, otlp.grpcUrl]) : undefined;
    const started = Date.now();
    const outcome = await execute(bridge ? isolated(launch, bridge) : launch, work, options.timeoutMs ?? 240_000).finally(() => bridge?.close());
    return {
      launch,
      root,
      ...outcome,
      durationMs: Date.now() - started,
      modelCalls: [...model.calls],
      unhandledModelRequests: [...model.unhandled],
      otlp: [...(capture?.requests ?? [])],
      dnsQueries: dns ? [...dns.queries] : undefined,
    };
  } finally {
    await Promise.all([model.close(), capture?.close(), dns?.close()]);
    rmSync(root, { recursive: true, force: true });
  }
}

/** Where the unix sockets are, the ports they stand for, and how to take them down. */
interface Bridge {
  dir: string;
  ports: number[];
  close(): Promise<void>;
}

/** A unix socket `<dir>/<port>.sock` per URL, each connection piped on to 127.0.0.1:<port> in this namespace. */
async function bridgePorts(dir: string, urls: string[]): Promise<Bridge> {
  mkdirSync(dir, { recursive: true });
  const ports = [...new Set(urls.map((url) => Number(new URL(url).port)))];
  const sockets = new Set<Socket>();
  const servers = await Promise.all(ports.map((port) => new Promise<Server>((resolve, reject) => {
    const server = createServer((inner) => {
      const outer = createConnection(port, '127.0.0.1');
      for (const socket of [inner, outer]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      }
      inner.pipe(outer).pipe(inner);
      inner.on('error', () => outer.destroy());
      outer.on('error', () => inner.destroy());
    });
    server.once('error', reject);
    server.listen(join(dir, `${port}.sock`), () => resolve(server));
  })));
  return {
    dir,
    ports,
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

const LOOPBACK_BRIDGE = join(REPO_ROOT, 'test', 'agents', 'loopback-bridge.mjs');

/** `launch` run in a loopback-only network namespace, behind loopback-bridge.mjs listening on the bridge's ports. */
function isolated(launch: Launch, bridge: Bridge): Launch {
  return { ...launch, ...inLoopbackOnlyNamespace(process.execPath, [LOOPBACK_BRIDGE, bridge.dir, bridge.ports.join(','), launch.command, ...launch.args]) };
}

function execute(launch: Launch, cwd: string, timeoutMs: number): Promise<Pick<RunResult, 'exitCode' | 'signal' | 'stdout' | 'stderr'>> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout ends the CLI's children (and the bridge's) with it.
    const child = spawn(launch.command, launch.args, { cwd, env: launch.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout, stderr });
    });
  });
}
