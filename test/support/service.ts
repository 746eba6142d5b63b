import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { startService, type Service } from '../../service/server.js';
import { createDatabase, POSTGRES_OPTED_OUT } from './postgres.js';

export type Backend = 'sqlite' | 'postgres';

/** The backends a parity suite runs against: both, unless PostgreSQL tests were turned off. */
export const BACKENDS: Backend[] = POSTGRES_OPTED_OUT ? ['sqlite'] : ['sqlite', 'postgres'];

export interface TestService extends Service {
  collectorUrl: string;
  reportingUrl: string;
  grpcUrl: string;
  dir: string;
  /** What DATABASE_URL a CLI command needs to reach this service's database. */
  databaseUrl: string;
  /** POST JSON to the collector. */
  ingest(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** GET JSON from the reporting app. */
  report<T = any>(pathAndQuery: string): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** Both apps on ephemeral ports over a fresh database: a SQLite file in a temp folder, or a new PostgreSQL database. */
export async function startTestService(
  options: { backend?: Backend; env?: Record<string, string>; now?: () => number } = {},
): Promise<TestService> {
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-test-'));
  const database = options.backend === 'postgres' ? await createDatabase() : null;
  const databaseUrl = database?.url ?? join(dir, 'usage.db');
  const cleanUp = async () => {
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  let service: Service;
  try {
    const config = loadConfig({ DATABASE_URL: databaseUrl, COLLECTOR_PORT: '0', REPORTING_PORT: '0', GRPC_PORT: '0', ...options.env });
    service = await startService(config, { collector: true, reporting: true }, options.now);
  } catch (error) {
    await cleanUp();
    throw error;
  }
  return {
    ...service,
    collectorUrl: service.collectorUrl!,
    reportingUrl: service.reportingUrl!,
    grpcUrl: service.grpcUrl!,
    dir,
    databaseUrl,
    ingest: (path, body, headers = {}) =>
      fetch(service.collectorUrl + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' || body instanceof Uint8Array || body instanceof ReadableStream ? body : JSON.stringify(body),
        duplex: 'half',
      } as RequestInit),
    async report(pathAndQuery) {
      const res = await fetch(service.reportingUrl + pathAndQuery);
      return { status: res.status, body: await res.json() };
    },
    async close() {
      await service.stop();
      await cleanUp();
    },
  };
}

/** `text` sent in 4 KiB pieces with `Transfer-Encoding: chunked`, so the server cannot know its size up front. */
export function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      for (let at = 0; at < bytes.length; at += 4096) controller.enqueue(bytes.subarray(at, at + 4096));
      controller.close();
    },
  });
}
