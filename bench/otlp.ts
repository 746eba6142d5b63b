import { randomBytes } from 'node:crypto';
import { otlpTypes } from '../collector/otlp/decode.js';
import { drive, type LoadResult } from './load.js';

const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'o3'];

const attribute = (key: string, value: string | number) =>
  ({ key, value: typeof value === 'number' ? { intValue: value } : { stringValue: value } });

/** Span ids of the template: a marker, the span's index, and four bytes each request overwrites. */
const templateSpanId = (i: number) => Buffer.from([0xb0, 0x0b, i >> 8, i & 0xff, 0, 0, 0, 0]);

/**
 * One protobuf ExportTraceServiceRequest of `spans` GenAI chat spans, encoded once, and where each
 * span id sits in the bytes, so a request only stamps its number into them (every span is new).
 */
function template(spans: number): { bytes: Buffer; idOffsets: number[] } {
  const traceId = randomBytes(16);
  const nowNanos = BigInt(Date.now()) * 1_000_000n;
  const message = otlpTypes.traces.request.fromObject({
    resourceSpans: [{
      resource: { attributes: [attribute('service.name', 'bench-agent'), attribute('tokentally.project', 'bench')] },
      scopeSpans: [{
        scope: { name: 'bench', version: '1.0.0' },
        spans: Array.from({ length: spans }, (_, i) => ({
          traceId, spanId: templateSpanId(i), name: 'chat', kind: 3,
          startTimeUnixNano: String(nowNanos - 1_500_000_000n), endTimeUnixNano: String(nowNanos),
          attributes: [
            attribute('gen_ai.operation.name', 'chat'), attribute('gen_ai.provider.name', 'openai'),
            attribute('gen_ai.request.model', MODELS[i % MODELS.length]!), attribute('gen_ai.usage.input_tokens', 200 + i),
            attribute('gen_ai.usage.output_tokens', 50 + (i % 700)), attribute('gen_ai.usage.cache_read.input_tokens', i % 3 === 0 ? 100 : 0),
          ],
        })),
      }],
    }],
  });
  const bytes = Buffer.from(otlpTypes.traces.request.encode(message).finish());
  const idOffsets = Array.from({ length: spans }, (_, i) => bytes.indexOf(templateSpanId(i)) + 4);
  return { bytes, idOffsets };
}

/**
 * OTLP protobuf ingest against a running collector: concurrent clients POST pre-encoded
 * `/v1/traces` bodies; latency is from send to the durable ack. Events = usage spans stored.
 */
export async function runOtlpLoad(options: { url: string; spans: number; connections: number; seconds: number }): Promise<LoadResult> {
  const { bytes, idOffsets } = template(options.spans);
  return drive({
    url: `${options.url}/v1/traces`, connections: options.connections, seconds: options.seconds, eventsPerRequest: options.spans,
    headers: { 'content-type': 'application/x-protobuf' },
    body: (n) => {
      const body = Buffer.from(bytes);
      for (const offset of idOffsets) body.writeUInt32BE(n, offset);
      return body;
    },
  });
}
