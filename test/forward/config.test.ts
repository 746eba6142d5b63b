import { describe, expect, it } from 'vitest';
import { forwardConfig } from '../../collector/forward/config.js';
import { loadConfig } from '../../src/config.js';

/** FORWARD_OTLP_* read as the OTel SDKs read OTEL_EXPORTER_OTLP_* (opentelemetry-specification, protocol/exporter.md). */
const forward = (env: Record<string, string>) => forwardConfig(loadConfig(env));

describe('forwarding settings', () => {
  it('unset: no forwarding', () => {
    expect(forward({})).toBeNull();
  });

  it('OTLP/HTTP appends /v1/<signal> to the base endpoint, without doubling a slash; a signal endpoint is used as it is', () => {
    expect(forward({ FORWARD_OTLP_ENDPOINT: 'https://otel.example.com:4318/otlp/', FORWARD_OTLP_LOGS_ENDPOINT: 'http://logs.example.com/ingest' })!.endpoints).toEqual({
      traces: 'https://otel.example.com:4318/otlp/v1/traces', logs: 'http://logs.example.com/ingest', metrics: 'https://otel.example.com:4318/otlp/v1/metrics',
    });
    expect(forward({ FORWARD_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })!.endpoints).toEqual({ traces: 'http://c:4318/v1/traces' });
  });

  it('gRPC names the server: nothing appended', () => {
    expect(forward({ FORWARD_OTLP_ENDPOINT: 'http://collector:4317', FORWARD_OTLP_PROTOCOL: 'grpc' })!.endpoints.traces).toBe('http://collector:4317');
  });

  it('reads headers as key1=value1,key2=value2, percent-decoded, and the other settings', () => {
    const config = forward({
      FORWARD_OTLP_ENDPOINT: 'http://c:4318', FORWARD_OTLP_HEADERS: 'x-honeycomb-team=abc, Authorization=Bearer%20t%3Dk,', FORWARD_OTLP_COMPRESSION: 'gzip',
      FORWARD_OTLP_TIMEOUT: '2500', FORWARD_OTLP_DROP_ATTRIBUTES: 'prompt, user.email', FORWARD_OUTBOX_MAX_BYTES: '1000000',
    })!;
    expect(config).toMatchObject({ protocol: 'http/protobuf', headers: { 'x-honeycomb-team': 'abc', authorization: 'Bearer t=k' }, gzip: true, timeoutMs: 2500, outboxMaxBytes: 1_000_000 });
    expect([...config.dropAttributes]).toEqual(['prompt', 'user.email']);
  });

  it.each([
    ['FORWARD_OTLP_ENDPOINT', 'collector:4318', /FORWARD_OTLP_ENDPOINT="collector:4318"/],
    ['FORWARD_OTLP_ENDPOINT', 'ftp://collector', /FORWARD_OTLP_ENDPOINT="ftp:\/\/collector": must be an http/],
    ['FORWARD_OTLP_PROTOCOL', 'http/proto', /FORWARD_OTLP_PROTOCOL="http\/proto"/],
    ['FORWARD_OTLP_HEADERS', 'novalue', /FORWARD_OTLP_HEADERS="novalue": "novalue" is not a key=value pair/],
    ['FORWARD_OTLP_HEADERS', 'bad key=1', /FORWARD_OTLP_HEADERS=.*"bad key=1" is not a key=value pair with a valid header name/],
    ['FORWARD_OTLP_COMPRESSION', 'zstd', /FORWARD_OTLP_COMPRESSION="zstd"/],
    ['FORWARD_OTLP_TIMEOUT', '10s', /FORWARD_OTLP_TIMEOUT="10s"/],
    ['FORWARD_OUTBOX_MAX_BYTES', '0', /FORWARD_OUTBOX_MAX_BYTES="0"/],
  ])('a wrong %s (%s) stops start-up naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
