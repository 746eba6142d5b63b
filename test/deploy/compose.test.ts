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
/** Compose's `${VAR:-default}` with nothing set, as a user without an .env file gets it. */
const withDefaults = (text: string) => text.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
const compose = parse(withDefaults(read('docker-compose.yml')), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const inProfile = (profile: string | null) =>
  Object.keys(services).filter((name) => (profile === null ? !services[name]!.profiles : services[name]!.profiles?.includes(profile))).sort();
const hostPort = (mapping: string) => mapping.split(':').slice(0, -1).join(':');

describe('docker-compose.yml', () => {
  it('by default runs only the SQLite sidecar on 4317, 4318 and 4320 of 127.0.0.1 with its named volume', () => {
    expect(inProfile(null)).toEqual(['tokentally']);
    const sidecar = services.tokentally!;
    expect(sidecar.ports).toEqual(['127.0.0.1:4317:4317', '127.0.0.1:4318:4318', '127.0.0.1:4320:4320']);
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
      expect(s.ports?.map((p) => p.split(':').at(-1)), name).toEqual(ports.map(String));
      // The image's health check probes the apps the command runs (test/deploy/docker.test.ts).
      expect(s.healthcheck, name).toBeUndefined();
    }
  });

  it('the image sets and exposes each port the compose file maps: OTLP/gRPC 4317, the collector 4318, reporting 4320', () => {
    const dockerfile = read('Dockerfile');
    for (const [variable, port] of [['GRPC_PORT', 4317], ['COLLECTOR_PORT', 4318], ['REPORTING_PORT', 4320]] as const) {
      expect(dockerfile).toMatch(new RegExp(`\\b${variable}=${port}\\b`));
      expect(/^EXPOSE (.+)$/m.exec(dockerfile)?.[1]?.split(' ')).toContain(String(port));
    }
  });

  it('every service publishes on 127.0.0.1 unless TOKENTALLY_PUBLISH_ADDRESS says otherwise', () => {
    const raw = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
    const mappings = Object.values(raw.services).flatMap((s) => s.ports ?? []);
    expect(mappings.length).toBeGreaterThanOrEqual(9);
    for (const mapping of mappings) expect(mapping).toMatch(/^\$\{TOKENTALLY_PUBLISH_ADDRESS:-127\.0\.0\.1\}:/);
  });

  it('passes API_KEYS and the other settings through from the environment or .env to every tokentally service', () => {
    for (const name of ['tokentally', 'collector-1', 'collector-2', 'reporting']) {
      for (const setting of ['API_KEYS', 'METRICS_MAX_SERIES', 'RAW_RETENTION_DAYS', 'QUEUE_MAX_EVENTS']) {
        expect(services[name]!.environment, `${name}: ${setting}`).toHaveProperty(setting);
      }
    }
    expect(read('docker-compose.yml')).toContain('API_KEYS: ${API_KEYS:-}');
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
    expect(grafana.environment?.GF_PLUGINS_PREINSTALL).toBe('simpod-json-datasource@0.6.5');
    // A new named volume takes the image's plugins folder, owned by Grafana's user; offline, a folder
    // with the plugin unzipped takes its place and nothing is downloaded.
    expect(grafana.volumes).toContain('grafana-plugins:/var/lib/grafana/plugins');
    expect(read('docker-compose.yml')).toContain('GF_PLUGINS_PREINSTALL_DISABLED: ${GRAFANA_PLUGINS_PREINSTALL_DISABLED:-false}');
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
