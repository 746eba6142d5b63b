import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { startService, type Service } from '../../src/server.js';

export interface TestService extends Service {
  collectorUrl: string;
  reportingUrl: string;
  dir: string;
  /** POST JSON to the collector. */
  ingest(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** GET JSON from the reporting app. */
  report<T = any>(pathAndQuery: string): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** Both apps on ephemeral ports over a fresh SQLite file in a temp folder. */
export async function startTestService(
  options: { env?: Record<string, string>; now?: () => number } = {},
): Promise<TestService> {
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-test-'));
  const config = loadConfig({
    DATABASE_URL: join(dir, 'usage.db'), COLLECTOR_PORT: '0', REPORTING_PORT: '0', ...options.env,
  });
  const service = await startService(config, { collector: true, reporting: true }, options.now);
  return {
    ...service,
    collectorUrl: service.collectorUrl!,
    reportingUrl: service.reportingUrl!,
    dir,
    ingest: (path, body, headers = {}) =>
      fetch(service.collectorUrl + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
      }),
    async report(pathAndQuery) {
      const res = await fetch(service.reportingUrl + pathAndQuery);
      return { status: res.status, body: await res.json() };
    },
    async close() {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
