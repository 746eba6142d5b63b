import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * How each published agent CLI is run non-interactively against the fake model server with its own
 * OTel export on: the command, a clean environment, and the config files it reads, all under a
 * throwaway HOME. Every switch here was read from the installed package (see README.md, "Switches").
 */

export type CliName = 'claude-code' | 'codex' | 'gemini-cli';
export type Protocol = 'http-json' | 'http-protobuf' | 'grpc';

export const PROMPT = 'Read the file hello.txt in the current directory and tell me what it says.';
export const TOOL_FILE = { name: 'hello.txt', content: 'hello from the tokentally agent harness\n' };

export interface CliContext {
  /** Throwaway HOME; config files are written below it. */
  home: string;
  /** The agent's working directory, holding TOOL_FILE. */
  work: string;
  modelUrl: string;
  otlp: { httpUrl: string; grpcUrl: string };
  protocol: Protocol;
}

export interface Launch {
  cli: CliName;
  version: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Files to write before the run, by path relative to HOME. */
  files: Record<string, string>;
}

export interface CliSpec {
  name: CliName;
  version: string;
  protocols: Protocol[];
  launch(context: CliContext): Launch;
}

const require = createRequire(import.meta.url);

function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

function versionOf(name: string): string {
  return (JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')) as { version: string }).version;
}

/** What every CLI gets: no proxy, no inherited OTel or vendor settings, only a PATH and a HOME. */
function baseEnv(context: CliContext): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: context.home,
    TMPDIR: join(context.home, 'tmp'),
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    NO_COLOR: '1',
    CI: '1',
  };
}

/**
 * Claude Code ships a native binary per platform inside an optional dependency; its npm postinstall
 * only copies that binary over `bin/claude.exe`, so the harness runs it where npm put it (the same
 * lookup as the package's own `cli-wrapper.cjs`), and install scripts can stay off.
 */
export const claudeCode: CliSpec = {
  name: 'claude-code',
  version: versionOf('@anthropic-ai/claude-code'),
  protocols: ['http-json', 'http-protobuf', 'grpc'],
  launch(context) {
    const platform = `${process.platform}-${process.arch}`;
    const binary = join(packageDir(`@anthropic-ai/claude-code-${platform}`), 'claude');
    const protocol = { 'http-json': 'http/json', 'http-protobuf': 'http/protobuf', grpc: 'grpc' }[context.protocol];
    return {
      cli: 'claude-code',
      version: this.version,
      command: binary,
      args: ['-p', PROMPT, '--output-format', 'json'],
      env: {
        ...baseEnv(context),
        CLAUDE_CONFIG_DIR: join(context.home, '.claude'),
        ANTHROPIC_BASE_URL: context.modelUrl,
        ANTHROPIC_API_KEY: 'sk-ant-fake-key-for-the-fake-model-server',
        // Vendor traffic off: auto-updater, Statsig/Datadog analytics, Sentry, everything "nonessential".
        DISABLE_AUTOUPDATER: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        // The user's own OTel export: logs, metrics and (beta) traces.
        CLAUDE_CODE_ENABLE_TELEMETRY: '1',
        CLAUDE_CODE_ENHANCED_TELEMETRY_BETA: '1',
        OTEL_LOGS_EXPORTER: 'otlp',
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: context.protocol === 'grpc' ? context.otlp.grpcUrl : context.otlp.httpUrl,
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_LOGS_EXPORT_INTERVAL: '500',
        OTEL_TRACES_EXPORT_INTERVAL: '500',
      },
      files: {},
    };
  },
};

/** TOML for one Codex `[otel]` exporter pointed at the capture receiver. */
function codexExporter(context: CliContext, signal: 'logs' | 'traces' | 'metrics'): string {
  if (context.protocol === 'grpc') return `{ otlp-grpc = { endpoint = "${context.otlp.grpcUrl}" } }`;
  const protocol = context.protocol === 'http-json' ? 'json' : 'binary';
  return `{ otlp-http = { endpoint = "${context.otlp.httpUrl}/v1/${signal}", protocol = "${protocol}" } }`;
}

export const codex: CliSpec = {
  name: 'codex',
  version: versionOf('@openai/codex'),
  protocols: ['http-json', 'http-protobuf', 'grpc'],
  launch(context) {
    const config = [
      // A model of the bundled catalog with the classic function tools; the default (gpt-6.2-sol)
      // offers only a JavaScript "code mode" tool nested in an `additional_tools` input item.
      'model = "gpt-5.5"',
      'model_provider = "fake"',
      // Vendor traffic off: update check, product analytics, feedback upload.
      'check_for_update_on_startup = false',
      '',
      '[analytics]',
      'enabled = false',
      '',
      '[feedback]',
      'enabled = false',
      '',
      // Plugins sync a curated catalog from GitHub and ChatGPT at startup; there is no sync-only switch.
      '[features]',
      'plugins = false',
      '',
      '[model_providers.fake]',
      'name = "fake model server"',
      `base_url = "${context.modelUrl}/v1"`,
      'env_key = "FAKE_OPENAI_API_KEY"',
      'wire_api = "responses"',
      '',
      '[otel]',
      'environment = "test"',
      // Without an explicit metrics exporter Codex sends metrics to Statsig (OpenAI).
      `exporter = ${codexExporter(context, 'logs')}`,
      `trace_exporter = ${codexExporter(context, 'traces')}`,
      `metrics_exporter = ${codexExporter(context, 'metrics')}`,
      '',
    ].join('\n');
    return {
      cli: 'codex',
      version: this.version,
      command: process.execPath,
      args: [join(packageDir('@openai/codex'), 'bin', 'codex.js'), 'exec', '--skip-git-repo-check', PROMPT],
      env: { ...baseEnv(context), CODEX_HOME: join(context.home, '.codex'), FAKE_OPENAI_API_KEY: 'sk-fake-key-for-the-fake-model-server' },
      files: { '.codex/config.toml': config },
    };
  },
};

export const geminiCli: CliSpec = {
  name: 'gemini-cli',
  version: versionOf('@google/gemini-cli'),
  // Gemini CLI's "http" is OTLP/JSON (exporter-*-otlp-http); it has no HTTP protobuf setting.
  protocols: ['http-json', 'grpc'],
  launch(context) {
    const settings = {
      general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
      // Clearcut usage statistics to Google off.
      privacy: { usageStatisticsEnabled: false },
      security: { auth: { selectedType: 'gemini-api-key' } },
      telemetry: {
        enabled: true,
        target: 'local',
        traces: true,
        otlpEndpoint: context.protocol === 'grpc' ? context.otlp.grpcUrl : context.otlp.httpUrl,
        otlpProtocol: context.protocol === 'grpc' ? 'grpc' : 'http',
      },
    };
    return {
      cli: 'gemini-cli',
      version: this.version,
      command: process.execPath,
      args: [join(packageDir('@google/gemini-cli'), 'bundle', 'gemini.js'), '-p', PROMPT],
      env: {
        ...baseEnv(context),
        GEMINI_API_KEY: 'fake-key-for-the-fake-model-server',
        GOOGLE_GEMINI_BASE_URL: context.modelUrl,
        // Headless runs refuse an untrusted working directory (exit 55) without this.
        GEMINI_CLI_TRUST_WORKSPACE: 'true',
      },
      files: { '.gemini/settings.json': JSON.stringify(settings, null, 2) },
    };
  },
};

export const CLIS: CliSpec[] = [claudeCode, codex, geminiCli];
