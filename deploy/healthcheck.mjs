// The image's HEALTHCHECK: readiness of the apps that the container runs. It imports nothing of the
// app (loading the CLI would cost the better part of a second of CPU at every interval), and asks
// with node:http rather than fetch, whose first use loads undici (0.3 s of CPU more). It reads the
// settings as src/config.ts does: an unset or empty variable is taken from CONFIG_FILE, else it is
// its default, and an app listening on a wildcard address (0.0.0.0 or ::, which also takes IPv4) is
// reached on 127.0.0.1, as an IPv4-only container network may have no ::1. The role is the
// argument (serve, collector or reporting), or else PID 1's: the entry point's argument, serve when
// it has none or PID 1 is not the entry point. Other commands serve nothing and end by themselves,
// so they count as healthy.
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { parseEnv } from 'node:util';

const DEFAULTS = { HOST: '127.0.0.1', COLLECTOR_PORT: '4318', REPORTING_PORT: '4320' };
// The service would not have started with a file it cannot read.
const fromFile = process.env.CONFIG_FILE ? parseEnv(readFileSync(process.env.CONFIG_FILE, 'utf8')) : {};
const setting = (name) => process.env[name] || fromFile[name] || DEFAULTS[name];

function roleOfPid1() {
  const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
  const i = args.findIndex((a) => a.endsWith('docker-entrypoint.mjs'));
  return i < 0 ? 'serve' : args[i + 1] ?? 'serve';
}

const role = process.argv[2] ?? roleOfPid1();
const listening = setting('HOST');
const host = { '0.0.0.0': '127.0.0.1', '::': '127.0.0.1' }[listening] ?? listening;
const origin = `http://${host.includes(':') ? `[${host}]` : host}`;
const ports = { serve: ['COLLECTOR_PORT', 'REPORTING_PORT'], collector: ['COLLECTOR_PORT'], reporting: ['REPORTING_PORT'] }[role] ?? [];

/** The app's /readyz answer: resolves on 200, rejects saying why otherwise. */
function probe(variable) {
  const url = `${origin}:${setting(variable)}/readyz`;
  return new Promise((resolve, reject) => {
    const fail = (why) => reject(new Error(`${variable}: ${url}: ${why}`));
    const request = get(url, { timeout: 8000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('error', (error) => fail(error.code ?? error.message));
      res.on('end', () => (res.statusCode === 200 ? resolve() : fail(`${res.statusCode} ${body}`)));
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 8 s')));
    request.on('error', (error) => fail(error.code ?? error.message));
  });
}

const probes = ports.map(probe);
Promise.all(probes).then(
  () => process.exit(0),
  (error) => {
    console.error(String(error));
    process.exit(1);
  },
);
