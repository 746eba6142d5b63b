import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PACKAGE_ROOT } from '../../src/paths.js';

/** docker-compose.yml as Compose reads it (merge keys resolved), checked without Docker. */
interface Service {
  image?: string;
  build?: string;
  profiles?: string[];
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
const read = (path: string) => readFileSync(join(PACKAGE_ROOT, path), 'utf8');
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const inProfile = (profile: string | null) =>
  Object.keys(services).filter((name) => (profile === null ? !services[name]!.profiles : services[name]!.profiles?.includes(profile))).sort();
const hostPort = (mapping: string) => mapping.split(':')[0]!;

describe('docker-compose.yml', () => {
  it('by default runs only the SQLite sidecar on 4317, 4318 and 4320 with its named volume', () => {
    expect(inProfile(null)).toEqual(['tokentally']);
    const sidecar = services.tokentally!;
    expect(sidecar.ports).toEqual(['4317:4317', '4318:4318', '4320:4320']);
    expect(sidecar.environment?.DATABASE_URL).toBe('/data/tokentally.db');
    expect(sidecar.volumes).toEqual(['tokentally-data:/data']);
  });

  it('profile postgres: PostgreSQL, two collectors and one reporting instance on it', () => {
    expect(inProfile('postgres')).toEqual(['collector-1', 'collector-2', 'postgres', 'reporting']);
    expect(services.postgres!.image).toMatch(/^postgres:15/);
    expect(services.postgres!.volumes).toEqual(['postgres-data:/var/lib/postgresql/data']);
    for (const [name, role, ports] of [['collector-1', 'collector', [4317, 4318]], ['collector-2', 'collector', [4317, 4318]], ['reporting', 'reporting', [4320]]] as const) {
      const s = services[name]!;
      expect(s.command, name).toEqual([role]);
      expect(s.environment?.DATABASE_URL, name).toMatch(/^postgres:\/\/[^@]+@postgres:5432\/tokentally$/);
      expect(s.depends_on?.postgres?.condition, name).toBe('service_healthy');
      expect(s.ports?.map((p) => p.split(':')[1]), name).toEqual(ports.map(String));
      // The image's own health check probes both apps; one app alone needs its own.
      expect(s.healthcheck?.test.join(' '), name).toContain(`127.0.0.1:${ports.at(-1)}/readyz`);
    }
  });

  it('the image sets and exposes each port the compose file maps: OTLP/gRPC 4317, the collector 4318, reporting 4320', () => {
    const dockerfile = read('Dockerfile');
    for (const [variable, port] of [['GRPC_PORT', 4317], ['COLLECTOR_PORT', 4318], ['REPORTING_PORT', 4320]] as const) {
      expect(dockerfile).toMatch(new RegExp(`\\b${variable}=${port}\\b`));
      expect(/^EXPOSE (.+)$/m.exec(dockerfile)?.[1]?.split(' ')).toContain(String(port));
    }
  });

  it('no two services publish the same host port, so profiles combine', () => {
    const ports = Object.values(services).flatMap((s) => (s.ports ?? []).map(hostPort));
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('every named volume is declared and every bind-mounted file exists in the repository', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(join(PACKAGE_ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(compose.volumes, `${name}: ${source}`).toHaveProperty(source);
      }
    }
  });

  it('profile forward: a sidecar forwarding to an OpenTelemetry Collector, whose config is in the repository', () => {
    expect(inProfile('forward')).toEqual(['otel-collector', 'tokentally-forwarding']);
    expect(services['tokentally-forwarding']!.environment?.FORWARD_OTLP_ENDPOINT).toBe('http://otel-collector:4318');
    const config = parse(read(services['otel-collector']!.volumes![0]!.split(':')[0]!)) as { receivers: { otlp: { protocols: Record<string, { endpoint: string }> } } };
    expect(config.receivers.otlp.protocols.http!.endpoint).toBe('0.0.0.0:4318');
  });

  it('profile grafana: the JSON datasource plugin, its datasource and the cost dashboard provisioned', () => {
    expect(inProfile('grafana')).toEqual(['grafana', 'grafana-dashboards']);
    const grafana = services.grafana!;
    expect(grafana.environment?.GF_INSTALL_PLUGINS).toMatch(/^simpod-json-datasource\b/);
    const mounts = Object.fromEntries((grafana.volumes ?? []).map((v) => [v.split(':')[1]!, v.split(':')[0]!]));

    const datasources = parse(read(mounts['/etc/grafana/provisioning/datasources/tokentally.yaml']!)).datasources;
    expect(datasources).toEqual([expect.objectContaining({ type: 'simpod-json-datasource', uid: 'tokentally', url: '${TOKENTALLY_GRAFANA_SOURCE}/grafana' })]);
    expect(grafana.environment?.TOKENTALLY_GRAFANA_SOURCE).toContain('http://tokentally:4320');

    const providers = parse(read(mounts['/etc/grafana/provisioning/dashboards/tokentally.yaml']!)).providers;
    expect(providers).toEqual([expect.objectContaining({ type: 'file', options: { path: '/var/lib/grafana/dashboards/tokentally' } })]);
    expect(mounts['/var/lib/grafana/dashboards/tokentally']).toBe('grafana-dashboards');
    expect(grafana.depends_on?.['grafana-dashboards']?.condition).toBe('service_completed_successfully');
  });

  it('the dashboard step turns the importable dashboard into one bound to the provisioned datasource', () => {
    const step = services['grafana-dashboards']!;
    const source = step.volumes!.find((v) => v.endsWith(':/in/tokentally-dashboard.json:ro'))!.split(':')[0]!;
    expect(source).toBe('./docs/grafana/tokentally-dashboard.json');
    // Compose turns $$ into $; then the sed expression is applied as the container would.
    const script = step.command!.join(' ').replaceAll('$$', '$');
    const [, pattern, replacement] = /sed 's\/(.+?)\/(.+?)\/g'/.exec(script)!;
    const filled = read(source).replaceAll(pattern!.replaceAll('\\', ''), replacement!);
    const uids = [...filled.matchAll(/"type": "simpod-json-datasource",\s*"uid": "([^"]+)"/g)].map((m) => m[1]);
    expect(uids.length).toBeGreaterThan(3);
    expect(new Set(uids)).toEqual(new Set(['tokentally']));
  });
});
