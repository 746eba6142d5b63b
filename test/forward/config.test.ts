import { describe, expect, it } from 'vitest';
import { forwardConfig } from '../../collector/forward/config.js';
import { loadConfig } from '../../src/config.js';

/** FORWARD_OTLP_* read as the OTel SDKs read OTEL_EXPORTER_OTLP_* (opentelemetry-specification, protocol/exporter.md). */
const forward = (env: Record<string, string>) => forwardConfig(loadConfig(env));
const endpoints = (env: Record<string, string>) => Object.fromEntries(Object.entries(forward(env)!.signals).map(([signal, s]) => [signal, s.endpoint]));

describe('forwarding settings', () => {
  it('unset: no forwarding', () => {
    expect(forward({})).toBeNull();
  });

  it('OTLP/HTTP appends /v1/<signal> to the base endpoint, without doubling a slash; a signal endpoint is used as it is', () => {
    expect(endpoints({ FORWARD_OTLP_ENDPOINT: 'https://otel.example.com:4318/otlp/', FORWARD_OTLP_LOGS_ENDPOINT: 'http://logs.example.com/ingest' })).toEqual({
      traces: 'https://otel.example.com:4318/otlp/v1/traces', logs: 'http://logs.example.com/ingest', metrics: 'https://otel.example.com:4318/otlp/v1/metrics',
    });
    expect(endpoints({ FORWARD_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toEqual({ traces: 'http://c:4318/v1/traces' });
  });

  it('gRPC names the server: nothing appended', () => {
    expect(endpoints({ FORWARD_OTLP_ENDPOINT: 'http://collector:4317', FORWARD_OTLP_PROTOCOL: 'grpc' }).traces).toBe('http://collector:4317');
  });

  it('reads headers as key1=value1,key2=value2, percent-decoded, and the other settings', () => {
    const config = forward({
      FORWARD_OTLP_ENDPOINT: 'http://c:4318', FORWARD_OTLP_HEADERS: 'x-honeycomb-team=abc, Authorization=Bearer%20t%3Dk,', FORWARD_OTLP_COMPRESSION: 'gzip',
      FORWARD_OTLP_TIMEOUT: '2500', FORWARD_OTLP_DROP_ATTRIBUTES: 'prompt, user.email', FORWARD_OUTBOX_MAX_BYTES: '1000000',
    })!;
    expect(config.signals.logs).toEqual({
      endpoint: 'http://c:4318/v1/logs', protocol: 'http/protobuf', headers: { 'x-honeycomb-team': 'abc', authorization: 'Bearer t=k' }, gzip: true, timeoutMs: 2500,
    });
    expect(config.outboxMaxBytes).toBe(1_000_000);
    expect([...config.dropAttributes]).toEqual(['prompt', 'user.email']);
  });

  it('a per-signal setting replaces the general one for its signal only, headers included (not merged)', () => {
    const config = forward({
      FORWARD_OTLP_ENDPOINT: 'http://c:4318', FORWARD_OTLP_HEADERS: 'team=a,shared=1', FORWARD_OTLP_TRACES_HEADERS: 'team=t',
      FORWARD_OTLP_LOGS_PROTOCOL: 'http/json', FORWARD_OTLP_METRICS_PROTOCOL: 'grpc', FORWARD_OTLP_METRICS_COMPRESSION: 'gzip', FORWARD_OTLP_TRACES_TIMEOUT: '500',
    })!;
    expect(config.signals).toEqual({
      traces: { endpoint: 'http://c:4318/v1/traces', protocol: 'http/protobuf', headers: { team: 't' }, gzip: false, timeoutMs: 500 },
      logs: { endpoint: 'http://c:4318/v1/logs', protocol: 'http/json', headers: { team: 'a', shared: '1' }, gzip: false, timeoutMs: 10_000 },
      // A gRPC signal on the base endpoint names the server: nothing appended.
      metrics: { endpoint: 'http://c:4318', protocol: 'grpc', headers: { team: 'a', shared: '1' }, gzip: true, timeoutMs: 10_000 },
    });
  });

  it('a per-signal setting without an endpoint for its signal forwards nothing more', () => {
    expect(forward({ FORWARD_OTLP_TRACES_PROTOCOL: 'grpc' })).toBeNull();
    expect(Object.keys(forward({ FORWARD_OTLP_LOGS_ENDPOINT: 'http://l/ingest', FORWARD_OTLP_TRACES_HEADERS: 'a=b' })!.signals)).toEqual(['logs']);
  });

  it.each([
    ['FORWARD_OTLP_ENDPOINT', 'collector:4318', /FORWARD_OTLP_ENDPOINT="collector:4318"/],
    ['FORWARD_OTLP_ENDPOINT', 'ftp://collector', /FORWARD_OTLP_ENDPOINT="ftp:\/\/collector": must be an http/],
    ['FORWARD_OTLP_PROTOCOL', 'http/proto', /FORWARD_OTLP_PROTOCOL="http\/proto"/],
    ['FORWARD_OTLP_HEADERS', 'novalue', /FORWARD_OTLP_HEADERS=\(not shown: header values are often secrets\): entry 1 is not a key=value pair/],
    ['FORWARD_OTLP_HEADERS', 'authorization=Bearer s3cret,bad key=1', /FORWARD_OTLP_HEADERS=\(not shown.*\): entry 2 is not a key=value pair with a valid header name$/],
    ['FORWARD_OTLP_ENDPOINT', 'http://u:s3cret@collector:99999', /FORWARD_OTLP_ENDPOINT="http:\/\/…@collector:99999": Invalid URL$/],
    ['FORWARD_OTLP_COMPRESSION', 'zstd', /FORWARD_OTLP_COMPRESSION="zstd"/],
    ['FORWARD_OTLP_TIMEOUT', '10s', /FORWARD_OTLP_TIMEOUT="10s"/],
    ['FORWARD_OUTBOX_MAX_BYTES', '0', /FORWARD_OUTBOX_MAX_BYTES="0"/],
    ['FORWARD_OTLP_LOGS_ENDPOINT', 'logs:4318', /FORWARD_OTLP_LOGS_ENDPOINT="logs:4318"/],
    ['FORWARD_OTLP_TRACES_PROTOCOL', 'grpc/json', /FORWARD_OTLP_TRACES_PROTOCOL="grpc\/json"/],
    ['FORWARD_OTLP_LOGS_HEADERS', 'a', /FORWARD_OTLP_LOGS_HEADERS=\(not shown.*\): entry 1 is not a key=value pair/],
    ['FORWARD_OTLP_METRICS_COMPRESSION', 'br', /FORWARD_OTLP_METRICS_COMPRESSION="br"/],
    ['FORWARD_OTLP_TRACES_TIMEOUT', '-1', /FORWARD_OTLP_TRACES_TIMEOUT="-1"/],
  ])('a wrong %s (%s) stops start-up naming it, and no secret of it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
    expect(() => loadConfig({ [name]: value })).not.toThrow(/s3cret/);
  });
});
