// The image's HEALTHCHECK: readiness of the apps that the container runs. It imports nothing of the
// app (loading the CLI would cost the better part of a second of CPU at every interval) and reads the
// settings as src/config.ts does: an unset or empty variable is its default, and an app listening on
// a wildcard address is reached on loopback. The role is the argument (serve, collector or
// reporting), or else PID 1's: the entry point's argument. Other commands serve nothing and end by
// themselves, so they count as healthy.
import { readFileSync } from 'node:fs';

const DEFAULTS = { HOST: '127.0.0.1', COLLECTOR_PORT: '4318', REPORTING_PORT: '4320' };
const setting = (name) => process.env[name] || DEFAULTS[name];

function roleOfPid1() {
  const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
  return args[args.findIndex((a) => a.endsWith('docker-entrypoint.mjs')) + 1] ?? 'serve';
}

const role = process.argv[2] ?? roleOfPid1();
const listening = setting('HOST');
const host = { '0.0.0.0': '127.0.0.1', '::': '::1' }[listening] ?? listening;
const origin = `http://${host.includes(':') ? `[${host}]` : host}`;
const ports = { serve: ['COLLECTOR_PORT', 'REPORTING_PORT'], collector: ['COLLECTOR_PORT'], reporting: ['REPORTING_PORT'] }[role] ?? [];
const probes = ports.map(async (variable) => {
  const url = `${origin}:${setting(variable)}/readyz`;
  const res = await fetch(url, { signal: AbortSignal.timeout(2500) }).catch((error) => {
    throw new Error(`${variable}: ${url}: ${error.cause?.code ?? error.message}`);
  });
  if (!res.ok) throw new Error(`${variable}: ${url}: ${res.status} ${await res.text()}`);
});
Promise.all(probes).then(
  () => process.exit(0),
  (error) => {
    console.error(String(error));
    process.exit(1);
  },
);
