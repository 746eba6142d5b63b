import { z } from 'zod';

/**
 * The forwarding settings, read the way the OTel SDKs read their `OTEL_EXPORTER_OTLP_*` variables
 * (opentelemetry-specification, protocol/exporter.md); collector/forward/config.ts turns them into
 * what the senders use.
 */

// zod runs the refinement even when its own URL check has failed: that one has said so already.
const url = z.string().url().refine((value) => !URL.canParse(value) || /^https?:$/.test(new URL(value).protocol), { message: 'must be an http:// or https:// URL' });

/**
 * `key1=value1,key2=value2`, the W3C Baggage form without properties; keys and values are
 * percent-decoded and trimmed, as the SDKs do.
 */
const headers = z.string().transform((value, ctx) => {
  const out: Record<string, string> = {};
  // Entries are numbered as API_KEYS numbers its own: empty ones not counted.
  for (const [i, pair] of value.split(',').filter((entry) => entry.trim() !== '').entries()) {
    const at = pair.indexOf('=');
    const key = at > 0 ? decode(pair.slice(0, at)) : undefined;
    const val = at > 0 ? decode(pair.slice(at + 1)) : undefined;
    if (!key || val === undefined || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
      // By its place: the text may hold a token.
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1} is not a key=value pair with a valid header name` });
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

const protocol = z.enum(['http/protobuf', 'http/json', 'grpc']);
const compression = z.enum(['gzip', 'none']);
/** Milliseconds, as OTEL_EXPORTER_OTLP_TIMEOUT. */
const timeout = z.coerce.number().int().positive();

type SignalName = 'TRACES' | 'LOGS' | 'METRICS';
const SIGNAL_NAMES: readonly SignalName[] = ['TRACES', 'LOGS', 'METRICS'];
type PerSignal<Setting extends string, S> = { [G in SignalName as `FORWARD_OTLP_${G}_${Setting}`]: S };

/** `FORWARD_OTLP_<SIGNAL>_<setting>` for each signal, unset by default: set, it overrides `FORWARD_OTLP_<setting>` for that signal. */
function perSignal<Setting extends string, S extends z.ZodTypeAny>(setting: Setting, schema: S): PerSignal<Setting, z.ZodOptional<S>> {
  return Object.fromEntries(SIGNAL_NAMES.map((signal) => [`FORWARD_OTLP_${signal}_${setting}`, schema.optional()])) as PerSignal<Setting, z.ZodOptional<S>>;
}

/** The variables (spread into the service's ConfigSchema); names are part of the product contract. */
export const FORWARD_SETTINGS = {
  FORWARD_OTLP_ENDPOINT: url.optional(),
  FORWARD_OTLP_PROTOCOL: protocol.default('http/protobuf'),
  FORWARD_OTLP_HEADERS: headers.default({}),
  FORWARD_OTLP_COMPRESSION: compression.default('none'),
  FORWARD_OTLP_TIMEOUT: timeout.default(10_000),
  ...perSignal('ENDPOINT', url),
  ...perSignal('PROTOCOL', protocol),
  ...perSignal('HEADERS', headers),
  ...perSignal('COMPRESSION', compression),
  ...perSignal('TIMEOUT', timeout),
  FORWARD_OTLP_DROP_ATTRIBUTES: keyList.default([]),
  FORWARD_OUTBOX_MAX_BYTES: z.coerce.number().int().positive().default(256 * 1024 * 1024),
};
