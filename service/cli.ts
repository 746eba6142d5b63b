#!/usr/bin/env -S node --max-old-space-size=1024 --max-semi-space-size=8 --no-memory-reducer
import { randomBytes } from 'node:crypto';
import { hashKey } from '../src/auth/keys.js';
import { printPrices, reprice } from '../src/commands/pricing.js';
import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from '../src/config.js';
import { pruneRaw, retentionHorizon } from '../src/retention.js';
import { isoUtc } from '../src/time.js';
import { startService, type Roles } from './server.js';
import { openReadyStore } from '../src/store/open.js';
import type { Store } from '../src/store/types.js';

const USAGE = `usage: tokentally <command>

  serve             run the collector and the reporting app (default)
  collector         run only the collector
  reporting         run only the reporting app
  migrate           apply database migrations and exit
  hash-key [KEY]    print the API_KEYS hash of a key (a new random key when none is given)
  prices [--at DATE] [--json]
                    print the price table in effect (built-in merged with PRICES_FILE)
  reprice --from DATE --to DATE [--model NAME ...]
                    recompute the cost of events without a reported cost; rollups follow
  verify            check that the rollups equal the raw sums and the database is intact (read-only)
  rebuild-rollups   recompute usage_daily from usage_events (from the raw retention horizon on)
  backup FILE       write a consistent copy of the database to FILE while the service keeps running (read-only)
  prune-raw         delete raw events older than RAW_RETENTION_DAYS now (the service also does it hourly)

Configuration comes from the environment; see the README.`;

const ROLES: Record<string, Roles> = {
  serve: { collector: true, reporting: true },
  collector: { collector: true, reporting: false },
  reporting: { collector: false, reporting: true },
};

/** How long a stop may take beyond SHUTDOWN_TIMEOUT_MS (which bounds the wait for open requests) to commit what they sent and close. */
const STOP_GRACE_MS = 10_000;

async function serve(roles: Roles): Promise<void> {
  const config = loadConfig();
  const service = await startService(config, roles);
  if (config.API_KEYS.length === 0) {
    console.warn('warning: no API_KEYS configured, so anyone who can reach these ports can send and read usage; see the README to turn auth on');
  }
  if (service.collectorUrl) console.log(`tokentally collector listening on ${service.collectorUrl}`);
  if (service.reportingUrl) console.log(`tokentally reporting listening on ${service.reportingUrl}`);
  if (service.grpcUrl) console.log(`tokentally OTLP/gRPC listening on ${service.grpcUrl}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining and stopping`);
    // Whatever holds the stop past this (a database that stopped answering, a statement still
    // running), nothing is lost by leaving: only committed events were ever acknowledged.
    const limit = config.SHUTDOWN_TIMEOUT_MS + STOP_GRACE_MS;
    setTimeout(() => {
      console.error(`${signal}: not stopped after ${limit} ms (SHUTDOWN_TIMEOUT_MS + ${STOP_GRACE_MS}); exiting now: every acknowledged event is committed, and requests not answered yet are retried by their clients`);
      exitWhenWritten(1);
    }, limit).unref();
    service.stop().then(
      () => exitWhenWritten(0),
      (error) => {
        console.error('stop failed:', error);
        exitWhenWritten(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** A maintenance command's settings: its queries may take as long as the database needs. */
const commandConfig = () => ({ ...loadConfig(), DATABASE_QUERY_TIMEOUT_MS: 0 });

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  // Migrated first, so that every maintenance command that writes runs against a database of any age.
  const store = await openReadyStore(commandConfig());
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * For the commands that only read (verify, backup): a read-only connection and no migrations, so
 * they leave the database exactly as it was, however old.
 */
async function withReadOnlyStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openReadyStore(commandConfig(), { readOnly: true });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const older = (pending: string[]) =>
  `the database is from an older version of tokentally (not applied: ${pending.join(', ')}); it was left as it is`;

async function main(command: string): Promise<number> {
  // `tokentally serve --help` asks for help, not for a service.
  if (['help', '--help', '-h'].includes(command) || process.argv.slice(3).some((arg) => arg === '--help' || arg === '-h')) {
    console.log(USAGE);
    return 0;
  }
  const roles = ROLES[command];
  if (roles) {
    await serve(roles);
    return -1;
  }
  switch (command) {
    case 'migrate':
      await withStore(async () => console.log('migrations applied'));
      return 0;
    case 'verify':
      return withReadOnlyStore(async (store) => {
        const pending = await store.pendingMigrations();
        if (pending.length > 0) {
          console.error(`verify: ${older(pending)}. Run \`tokentally migrate\` (or start the service) to upgrade it, then verify.`);
          return 1;
        }
        const result = await store.verify();
        console.log(`integrity: ${result.integrity}; rollup rows differing from the raw sums (either side): ${result.mismatches}`);
        return result.ok ? 0 : 1;
      });
    case 'rebuild-rollups':
      await withStore((store) => store.rebuildRollups());
      console.log('usage_daily rebuilt from usage_events');
      return 0;
    case 'backup': {
      const file = process.argv[3];
      if (!file) throw new Error('backup: give the file to write, e.g. tokentally backup ./backups/usage.db');
      if (existsSync(file)) throw new Error(`backup: ${file} already exists; choose a new file`);
      await withReadOnlyStore(async (store) => {
        await store.backup(file);
        const pending = await store.pendingMigrations();
        if (pending.length > 0) console.log(`note: ${older(pending)}, and so is the copy`);
      });
      console.log(`backup written to ${file}`);
      return 0;
    }
    case 'prune-raw': {
      const config = loadConfig();
      if (config.RAW_RETENTION_DAYS === undefined) throw new Error('prune-raw: RAW_RETENTION_DAYS is not set, so raw events are kept forever');
      const before = retentionHorizon(Date.now(), config.RAW_RETENTION_DAYS);
      const deleted = await withStore((store) => pruneRaw(store, before));
      console.log(`deleted ${deleted} raw events before ${isoUtc(before)}; rollups kept`);
      return 0;
    }
    case 'prices':
      printPrices(loadConfig(), process.argv.slice(3));
      return 0;
    case 'reprice':
      await withStore((store) => reprice(loadConfig(), store, process.argv.slice(3)));
      return 0;
    case 'hash-key': {
      const key = process.argv[3] ?? `tt_${randomBytes(24).toString('base64url')}`;
      if (!process.argv[3]) console.log(`key:  ${key}`);
      console.log(`hash: ${hashKey(key).toString('hex')}`);
      return 0;
    }
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

/**
 * Exits once stdout and stderr have taken everything written to them: into a pipe Node writes what
 * the pipe takes (64 KiB) and queues the rest, which `process.exit` alone would drop.
 */
function exitWhenWritten(code: number): void {
  let open = 2;
  const written = () => {
    if (--open === 0) process.exit(code);
  };
  process.stdout.write('', written);
  process.stderr.write('', written);
}

main(process.argv[2] ?? 'serve').then(
  (code) => {
    if (code >= 0) exitWhenWritten(code);
  },
  (error: unknown) => {
    console.error(error instanceof ConfigError || error instanceof Error ? error.message : error);
    exitWhenWritten(1);
  },
);
