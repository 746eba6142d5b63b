import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isLosslessNumber, stringify as stringifyLossless } from 'lossless-json';
import { CLIS, PROMPT, type Protocol } from './clis.js';
import { decodeRequest, encodingOf, plainBody } from './otlp-decode.js';
import { FIXTURES_DIR } from './paths.js';
import { assertLoopbackOnly, dnsComesHere, runCli, type RunResult } from './run-cli.js';

/**
 * Runs each published CLI over each OTLP protocol it supports and writes what it sent to
 * test/fixtures/agents/<cli>-<version>-<protocol>.json. Run it through isolated.sh (`npm run
 * capture` does): `sh isolated.sh node dist/capture.js [--cli codex] [--protocol grpc]
 * [--fail-first 1] [--suffix retry] [--dump <dir>] [--out <dir>]`.
 */

const { values } = parseArgs({
  options: {
    cli: { type: 'string', multiple: true },
    protocol: { type: 'string', multiple: true },
    'fail-first': { type: 'string' },
    dump: { type: 'string' },
    out: { type: 'string' },
    suffix: { type: 'string' },
  },
});

const OUT = values.out ?? FIXTURES_DIR;
/** Strings longer than this (system prompts, tool schemas, prompt copies) are replaced by their length. */
const MAX_STRING = 2000;

assertLoopbackOnly();
const recordDns = dnsComesHere();
mkdirSync(OUT, { recursive: true });
const failFirst = values['fail-first'] ? Number(values['fail-first']) : undefined;

for (const spec of CLIS.filter((c) => !values.cli || values.cli.includes(c.name))) {
  for (const protocol of spec.protocols.filter((p) => !values.protocol || values.protocol.includes(p))) {
    const dumpDir = values.dump ? join(values.dump, `${spec.name}-${protocol}`) : undefined;
    process.stdout.write(`${spec.name} ${spec.version} over ${protocol} … `);
    const result = await runCli(spec, protocol as Protocol, { failFirst, dumpDir, recordDns });
    const file = join(OUT, `${spec.name}-${spec.version}-${protocol}${values.suffix ? `-${values.suffix}` : ''}.json`);
    writeFileSync(file, fixtureText(result, protocol as Protocol));
    process.stdout.write(`exit ${result.exitCode ?? result.signal}, ${result.modelCalls.length} model calls, ${result.otlp.length} OTLP requests → ${file}\n`);
    for (const r of result.otlp) process.stdout.write(`    ${r.transport} ${r.path} ${r.contentType ?? ''} ${r.contentEncoding ?? ''} ${r.body.length} B → ${r.answered}\n`);
    if (result.dnsQueries?.length) process.stdout.write(`    DNS lookups: ${[...new Set(result.dnsQueries.map((q) => q.name))].join(', ')}\n`);
    if (result.unhandledModelRequests.length) process.stdout.write(`    model server 404s: ${JSON.stringify(result.unhandledModelRequests)}\n`);
    if (result.exitCode !== 0) process.stdout.write(`    stderr: ${result.stderr.slice(-1500)}\n`);
  }
}

function fixtureText(result: RunResult, protocol: Protocol): string {
  const fixture = {
    cli: result.launch.cli,
    version: result.launch.version,
    protocol,
    scenario: {
      prompt: PROMPT,
      description: 'one prompt; the fake model answers the first main-loop call with a file-reading tool call and the call holding the tool result with text; any other call the CLI makes is a "side" call',
      failFirst: failFirst ?? 0,
    },
    run: {
      command: [result.launch.command, ...result.launch.args],
      env: result.launch.env,
      files: result.launch.files,
      exitCode: result.exitCode,
      signal: result.signal,
      durationMs: result.durationMs,
      stdout: clip(result.stdout),
      stderr: clip(result.stderr),
    },
    modelCalls: result.modelCalls,
    unhandledModelRequests: result.unhandledModelRequests,
    dnsLookups: result.dnsQueries ?? 'not recorded (run through isolated.sh to record them)',
    stripped: `strings longer than ${MAX_STRING} characters in request bodies are replaced by "<stripped: N chars>"`,
    requests: result.otlp.map((r) => ({
      seq: r.seq,
      atMs: r.atMs,
      transport: r.transport,
      path: r.path,
      signal: r.signal,
      contentType: r.contentType,
      contentEncoding: r.contentEncoding,
      chunked: r.chunked,
      compressed: r.compressed,
      headers: r.headers,
      encoding: encodingOf(r),
      wireBytes: r.wireBytes,
      plainBytes: plainBody(r).length,
      answered: r.answered,
      body: strip(decodeRequest(r)),
    })),
  };
  // Temp paths differ per run; one placeholder keeps fixtures comparable between runs.
  return format(fixture, '').split(result.root).join('$RUN') + '\n';
}

/**
 * JSON, exact numbers kept, compact where it costs no reading: a value that fits in 120 columns
 * stays on one line, and so does an array element up to 1,200 (one span, log record or data point
 * per line; arrays of numbers always), which keeps a Codex capture (500+ spans) near its size on the wire.
 */
function format(value: unknown, indent: string, element = false): string {
  const flat = stringifyLossless(value)!;
  if (flat.length + indent.length <= (element ? 1200 : 120) || !value || typeof value !== 'object' || isLosslessNumber(value)) return flat;
  if (Array.isArray(value) && value.every((v) => !v || typeof v !== 'object' || isLosslessNumber(v))) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) return `[\n${value.map((v) => inner + format(v, inner, true)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${format(v, inner)}`).join(',\n')}\n${indent}}`;
}

function clip(text: string): string {
  return text.length > 4000 ? `${text.slice(0, 2000)}\n…\n${text.slice(-2000)}` : text;
}

function strip(value: unknown): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING ? `<stripped: ${value.length} chars>` : value;
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === 'object' && !isLosslessNumber(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, strip(v)]));
  return value;
}
