import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { ApiKeysSetting } from './auth/keys.js';
import { isPostgresUrl } from './database-url.js';
import { FORWARD_SETTINGS } from './forward-settings.js';
import { shownUrl } from './redact.js';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

/** Which services a setting selects: `*` is any service. */
export interface ServiceSelection {
  anyService: boolean;
  services: ReadonlySet<string>;
}

/** A comma list of resource `service.name`s, or `*`. */
const ServiceListSetting = z.string().transform((value, ctx): ServiceSelection => {
  const entries = value.split(',').map((s) => s.trim());
  if (entries.includes('')) ctx.addIssue({ code: 'custom', message: 'must be a comma list of service.name values or *, without empty entries' });
  return { anyService: entries.includes('*'), services: new Set(entries.filter((e) => e !== '*')) };
});

/** Every setting the service reads, with its default; names are part of the product contract. */
export const ConfigSchema = z
  .object({
    // A URL of another scheme, or a PostgreSQL one mistyped, would otherwise be taken for a file path.
    DATABASE_URL: z.string().min(1).refine((value) => isPostgresUrl(value) || !/^\s*(postgres(ql)?:|[a-z][a-z0-9+.-]*:\/\/)/i.test(value) || /^file:/.test(value), 'must be a postgres:// or postgresql:// URL, or the path of a SQLite file').default('./data/tokentally.db'),
    HOST: z.string().min(1).default('127.0.0.1'),
    COLLECTOR_PORT: port.default(4318),
    REPORTING_PORT: port.default(4320),
    GRPC_PORT: port.default(4317),
    QUEUE_MAX_EVENTS: positiveInt.default(200_000),
    QUEUE_MAX_BYTES: positiveInt.default(64 * 1024 * 1024),
    BATCH_MAX_EVENTS: positiveInt.default(5_000),
    MAX_EVENTS_PER_REQUEST: positiveInt.default(10_000),
    MAX_BODY_BYTES: positiveInt.default(5 * 1024 * 1024),
    MAX_DECODED_BODY_BYTES: positiveInt.default(50 * 1024 * 1024),
    MAX_DECODED_BYTES_IN_FLIGHT: positiveInt.default(128 * 1024 * 1024),
    BODY_IDLE_TIMEOUT_MS: positiveInt.default(30_000),
    // 300 s is Node's own default for a request to come whole; the HTTP servers take theirs from this.
    REQUEST_TIMEOUT_MS: positiveInt.max(3_600_000).default(300_000),
    MAX_RECORDS_PER_REQUEST: positiveInt.default(10_000),
    MAX_VALUES_PER_REQUEST: positiveInt.default(1_000_000),
    WRITE_RETRY_MS: z.coerce.number().int().min(0).default(2_000),
    SHUTDOWN_TIMEOUT_MS: positiveInt.default(30_000),
    SQLITE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL']).default('FULL'),
    SQLITE_BUSY_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(250),
    SQLITE_WRITE_THREADS: z.enum(['on', 'off']).default('on'),
    RAW_RETENTION_DAYS: positiveInt.optional(),
    METRICS_MAX_SERIES: positiveInt.max(100_000).default(500),
    DATABASE_POOL_MAX: positiveInt.max(1000).default(10),
    DATABASE_CONNECT_TIMEOUT_MS: positiveInt.max(600_000).default(10_000),
    DATABASE_QUERY_TIMEOUT_MS: z.coerce.number().int().min(0).max(86_400_000).default(30_000),
    DATABASE_READ_URL: z.string().refine(isPostgresUrl, 'must be a postgres:// or postgresql:// URL').optional(),
    MAX_REPLICA_LAG_MS: z.coerce.number().int().min(0).default(5_000),
    API_KEYS: ApiKeysSetting.default([]),
    PRICES_FILE: z.string().min(1).optional(),
    ...FORWARD_SETTINGS,
    COUNT_METRICS: ServiceListSetting.optional(),
    BUDGET_EVALUATE_MS: positiveInt.max(60_000).default(2_000),
    BUDGET_NOTIFY_ATTEMPTS: positiveInt.max(100).default(10),
    BUDGET_NOTIFY_TIMEOUT_MS: positiveInt.max(60_000).default(5_000),
    MAX_BUDGETS: positiveInt.max(100_000).default(1_000),
    BUDGET_OUTBOX_RETENTION_DAYS: positiveInt.max(36_500).default(30),
    METRIC_STREAM_RETENTION_DAYS: positiveInt.max(36_500).default(30),
  })
  .refine((c) => c.MAX_EVENTS_PER_REQUEST <= c.QUEUE_MAX_EVENTS, {
    path: ['MAX_EVENTS_PER_REQUEST'],
    message: 'must not exceed QUEUE_MAX_EVENTS, or a full-size request could never be queued',
  })
  .refine((c) => c.DATABASE_READ_URL === undefined || isPostgresUrl(c.DATABASE_URL), {
    path: ['DATABASE_READ_URL'],
    message: 'needs a PostgreSQL DATABASE_URL: a read replica follows a PostgreSQL primary',
  })
  .refine((c) => c.BODY_IDLE_TIMEOUT_MS <= c.REQUEST_TIMEOUT_MS, {
    path: ['BODY_IDLE_TIMEOUT_MS'],
    message: 'must not exceed REQUEST_TIMEOUT_MS, within which a whole body must come',
  })
  .refine((c) => c.MAX_DECODED_BODY_BYTES <= c.MAX_DECODED_BYTES_IN_FLIGHT, {
    path: ['MAX_DECODED_BODY_BYTES'],
    message: 'must not exceed MAX_DECODED_BYTES_IN_FLIGHT, or a full-size body could never be decoded',
  });

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

/**
 * A setting's value as its error shows it: headers (which carry tokens) and API_KEYS (whose wrong
 * entry may be a key itself) not at all, URLs without their passwords. Start-up errors reach logs
 * that more people read than the settings.
 */
function shownValue(name: string, value: string): string {
  if (name.endsWith('_HEADERS')) return '(not shown: header values are often secrets)';
  if (name === 'API_KEYS') return '(not shown: a wrong entry may be a key)';
  return JSON.stringify(shownUrl(value));
}

/** The start-up error for settings that are wrong, each as `NAME="value": why`. */
export function invalidSettings(problems: readonly { name: string; value: string; message: string }[]): ConfigError {
  const lines = problems.map((p) => `${p.name}=${shownValue(p.name, p.value)}: ${p.message}`);
  return new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
}

/**
 * The settings of the file CONFIG_FILE names, if it does: `NAME=value` lines as in a `.env` file
 * (comments, quotes and `export` allowed). Every name must be a setting: a misspelt one would
 * otherwise be ignored without a word.
 */
function fileSettings(env: NodeJS.ProcessEnv): { file: string; values: NodeJS.Dict<string> } | undefined {
  const file = env.CONFIG_FILE;
  if (file === undefined || file === '') return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw invalidSettings([{ name: 'CONFIG_FILE', value: file, message: `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` }]);
  }
  const values = parseEnv(text);
  const unknown = Object.keys(values).filter((name) => !Object.hasOwn(ConfigSchema.shape, name));
  if (unknown.length > 0) {
    const names = unknown.map((name) => JSON.stringify(name)).join(', ');
    throw invalidSettings([{ name: 'CONFIG_FILE', value: file, message: `${names} ${unknown.length === 1 ? 'is not a setting' : 'are not settings'} (the README lists them)` }]);
  }
  return { file, values };
}

/**
 * Reads the configuration from the environment, and for what it leaves unset from CONFIG_FILE;
 * an empty variable counts as unset.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const fromFile = fileSettings(env);
  const origin = new Map<string, string>();
  const set = (value: string | undefined): value is string => value !== undefined && value !== '';
  const input = Object.fromEntries(
    Object.keys(ConfigSchema.shape).flatMap((name) => {
      const value = env[name];
      if (set(value)) return [[name, value]];
      const filed = fromFile?.values[name];
      if (!set(filed)) return [];
      origin.set(name, ` (from CONFIG_FILE ${fromFile!.file})`);
      return [[name, filed]];
    }),
  );
  const result = ConfigSchema.safeParse(input);
  if (!result.success) {
    throw invalidSettings(result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'configuration');
      return { name, value: input[name] ?? '', message: `${issue.message}${origin.get(name) ?? ''}` };
    }));
  }
  return result.data;
}
