import { z } from 'zod';
import type { OutboxEntry } from '../../src/store/types.js';

/**
 * The forwarding settings, read the way the OTel SDKs read their `OTEL_EXPORTER_OTLP_*` variables
 * (opentelemetry-specification, protocol/exporter.md): a base endpoint to which OTLP/HTTP appends
 * `/v1/<signal>`, per-signal endpoints used as they are, headers as `key1=value1,key2=value2`.
 */

export type Signal = OutboxEntry['signal'];
export const SIGNALS: readonly Signal[] = ['traces', 'logs', 'metrics'];
export type ForwardProtocol = 'http/protobuf' | 'http/json' | 'grpc';

const url = z.string().url().refine((value) => /^https?:$/.test(new URL(value).protocol), { message: 'must be an http:// or https:// URL' });

/**
 * `key1=value1,key2=value2`, the W3C Baggage form without properties; keys and values are
 * percent-decoded and trimmed, as the SDKs do.
 */
const headers = z.string().transform((value, ctx) => {
  const out: Record<string, string> = {};
  for (const pair of value.split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const key = at > 0 ? decode(pair.slice(0, at)) : undefined;
    const val = at > 0 ? decode(pair.slice(at + 1)) : undefined;
    if (!key || val === undefined || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
      ctx.addIssue({ code: 'custom', message: `"${pair.trim()}" is not a key=value pair with a valid header name` });
      return z.NEVER;
    }
    out[key.toLowerCase()] = val;
  }
  return out;
});

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text).trim();
  } catch {
    return undefined;
  }
}

const keyList = z.string().transform((value) => value.split(',').map((key) => key.trim()).filter((key) => key !== ''));

/** The variables (spread into the service's ConfigSchema); names are part of the product contract. */
export const FORWARD_SETTINGS = {
  FORWARD_OTLP_ENDPOINT: url.optional(),
  FORWARD_OTLP_TRACES_ENDPOINT: url.optional(),
  FORWARD_OTLP_LOGS_ENDPOINT: url.optional(),
  FORWARD_OTLP_METRICS_ENDPOINT: url.optional(),
  FORWARD_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json', 'grpc']).default('http/protobuf'),
  FORWARD_OTLP_HEADERS: headers.default({}),
  FORWARD_OTLP_COMPRESSION: z.enum(['gzip', 'none']).default('none'),
  /** Milliseconds, as OTEL_EXPORTER_OTLP_TIMEOUT. */
  FORWARD_OTLP_TIMEOUT: z.coerce.number().int().positive().default(10_000),
  FORWARD_OTLP_DROP_ATTRIBUTES: keyList.default([]),
  FORWARD_OUTBOX_MAX_BYTES: z.coerce.number().int().positive().default(256 * 1024 * 1024),
};

type Settings = z.infer<ReturnType<typeof z.object<typeof FORWARD_SETTINGS>>>;

export interface ForwardConfig {
  /** Where each forwarded signal goes: a full URL for OTLP/HTTP, the server's URL for gRPC. */
  endpoints: Partial<Record<Signal, string>>;
  protocol: ForwardProtocol;
  headers: Readonly<Record<string, string>>;
  gzip: boolean;
  timeoutMs: number;
  dropAttributes: ReadonlySet<string>;
  outboxMaxBytes: number;
}

const SIGNAL_VARIABLES = {
  traces: 'FORWARD_OTLP_TRACES_ENDPOINT', logs: 'FORWARD_OTLP_LOGS_ENDPOINT', metrics: 'FORWARD_OTLP_METRICS_ENDPOINT',
} as const satisfies Record<Signal, keyof Settings>;

/** The forwarding the settings ask for; null when no endpoint is set (no forwarding, no outbox writes). */
export function forwardConfig(settings: Settings): ForwardConfig | null {
  const endpoints: Partial<Record<Signal, string>> = {};
  const base = settings.FORWARD_OTLP_ENDPOINT;
  for (const signal of SIGNALS) {
    const own = settings[SIGNAL_VARIABLES[signal]];
    if (own) endpoints[signal] = own;
    // gRPC names a server, not a path; OTLP/HTTP appends the signal's path, without doubling a slash.
    else if (base) endpoints[signal] = settings.FORWARD_OTLP_PROTOCOL === 'grpc' ? base : `${base.replace(/\/+$/, '')}/v1/${signal}`;
  }
  if (Object.keys(endpoints).length === 0) return null;
  return {
    endpoints, protocol: settings.FORWARD_OTLP_PROTOCOL, headers: settings.FORWARD_OTLP_HEADERS, gzip: settings.FORWARD_OTLP_COMPRESSION === 'gzip',
    timeoutMs: settings.FORWARD_OTLP_TIMEOUT, dropAttributes: new Set(settings.FORWARD_OTLP_DROP_ATTRIBUTES), outboxMaxBytes: settings.FORWARD_OUTBOX_MAX_BYTES,
  };
}
