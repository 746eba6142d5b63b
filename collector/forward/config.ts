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

/** How one signal is forwarded. */
export interface SignalForward {
  /** A full URL for OTLP/HTTP, the server's URL for gRPC. */
  endpoint: string;
  protocol: ForwardProtocol;
  headers: Readonly<Record<string, string>>;
  gzip: boolean;
  timeoutMs: number;
}

export interface ForwardConfig {
  /** The forwarded signals: those with an endpoint of their own or the base endpoint. */
  signals: Partial<Record<Signal, SignalForward>>;
  dropAttributes: ReadonlySet<string>;
  outboxMaxBytes: number;
}

const SIGNAL_NAMES = { traces: 'TRACES', logs: 'LOGS', metrics: 'METRICS' } as const satisfies Record<Signal, string>;

/**
 * The forwarding the settings ask for; null when no endpoint is set (no forwarding, no outbox writes).
 * Each per-signal variable replaces its general one for that signal, as OTEL_EXPORTER_OTLP_TRACES_HEADERS
 * replaces OTEL_EXPORTER_OTLP_HEADERS.
 */
export function forwardConfig(settings: Settings): ForwardConfig | null {
  const signals: Partial<Record<Signal, SignalForward>> = {};
  const base = settings.FORWARD_OTLP_ENDPOINT;
  for (const signal of SIGNALS) {
    const name = SIGNAL_NAMES[signal];
    const own = settings[`FORWARD_OTLP_${name}_ENDPOINT`];
    const protocol = settings[`FORWARD_OTLP_${name}_PROTOCOL`] ?? settings.FORWARD_OTLP_PROTOCOL;
    // gRPC names a server, not a path; OTLP/HTTP appends the signal's path to the base, without doubling a slash.
    const endpoint = own ?? (base && (protocol === 'grpc' ? base : `${base.replace(/\/+$/, '')}/v1/${signal}`));
    if (!endpoint) continue;
    signals[signal] = {
      endpoint, protocol,
      headers: settings[`FORWARD_OTLP_${name}_HEADERS`] ?? settings.FORWARD_OTLP_HEADERS,
      gzip: (settings[`FORWARD_OTLP_${name}_COMPRESSION`] ?? settings.FORWARD_OTLP_COMPRESSION) === 'gzip',
      timeoutMs: settings[`FORWARD_OTLP_${name}_TIMEOUT`] ?? settings.FORWARD_OTLP_TIMEOUT,
    };
  }
  if (Object.keys(signals).length === 0) return null;
  return { signals, dropAttributes: new Set(settings.FORWARD_OTLP_DROP_ATTRIBUTES), outboxMaxBytes: settings.FORWARD_OUTBOX_MAX_BYTES };
}
