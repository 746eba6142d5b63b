import type { z } from 'zod';
import type { FORWARD_SETTINGS } from '../../src/forward-settings.js';
import type { OutboxEntry } from '../../src/store/types.js';

/**
 * Forwarding as the OTel SDKs read their `OTEL_EXPORTER_OTLP_*` variables (opentelemetry-specification,
 * protocol/exporter.md): a base endpoint to which OTLP/HTTP appends `/v1/<signal>`, per-signal
 * endpoints used as they are.
 */

export type Signal = OutboxEntry['signal'];
export const SIGNALS: readonly Signal[] = ['traces', 'logs', 'metrics'];
export type ForwardProtocol = 'http/protobuf' | 'http/json' | 'grpc';

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
