// The image's HEALTHCHECK: readiness of the apps that the container runs, read from PID 1's command
// line (the entry point's argument: serve, collector or reporting). Other commands serve nothing and
// end by themselves, so they count as healthy.
import { readFileSync } from 'node:fs';

const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
const command = args[args.findIndex((a) => a.endsWith('docker-entrypoint.mjs')) + 1] ?? 'serve';
const ports = { serve: ['COLLECTOR_PORT', 'REPORTING_PORT'], collector: ['COLLECTOR_PORT'], reporting: ['REPORTING_PORT'] }[command] ?? [];
const probes = ports.map(async (variable) => {
  const res = await fetch(`http://127.0.0.1:${process.env[variable]}/readyz`, { signal: AbortSignal.timeout(2500) });
  if (!res.ok) throw new Error(`${variable}: ${res.status} ${await res.text()}`);
});
Promise.all(probes).then(
  () => process.exit(0),
  (error) => {
    console.error(String(error));
    process.exit(1);
  },
);
