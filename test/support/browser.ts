import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { brotliDecompressSync, createBrotliDecompress } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type LaunchOptions, type Page } from 'playwright-core';
import { USE_SYSTEM_BINARIES } from '../../bench/pg-cluster.js';

/** Headless, with everything that could reach the network on its own turned off. */
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** `CHROMIUM_PATH`, else Debian's /usr/bin/chromium when installed. */
function systemChromium(): string | null {
  if (!USE_SYSTEM_BINARIES) return null;
  const named = process.env.CHROMIUM_PATH;
  if (named) {
    if (!existsSync(named)) throw new Error(`CHROMIUM_PATH names ${named}, which does not exist`);
    return named;
  }
  return existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : null;
}

/** The small archives (libraries, font) are unpacked in memory. */
function untar(file: string, into: string): void {
  execFileSync('tar', ['-x', '-C', into], { input: brotliDecompressSync(readFileSync(file)) });
}

/**
 * The Chromium build inside the `@sparticuz/chromium` dev dependency, unpacked into `dir` with the
 * NSS libraries it links (a fresh machine may lack them) and its font. The package's own unpacker
 * writes to fixed paths in /tmp that it never removes, so the files are unpacked here instead.
 */
async function unpackChromium(dir: string): Promise<Pick<LaunchOptions, 'executablePath' | 'env'>> {
  const packed = join(dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')), '..', '..', 'bin');
  const executablePath = join(dir, 'chromium');
  untar(join(packed, 'al2023.tar.br'), dir);
  untar(join(packed, 'fonts.tar.br'), dir);
  await pipeline(createReadStream(join(packed, 'chromium.br')), createBrotliDecompress(), createWriteStream(executablePath, { mode: 0o700 }));
  // The package's fonts.conf names /tmp/fonts; this one names the unpacked copy. Under a C or POSIX
  // locale this build reports the language `en-US@posix`, which Intl rejects, so the locale is named.
  writeFileSync(join(dir, 'fonts.conf'), `<?xml version="1.0"?>\n<fontconfig><dir>${dir}/fonts</dir><cachedir>${dir}/fonts-cache</cachedir></fontconfig>\n`);
  return { executablePath, env: { ...process.env, LC_ALL: 'en_US.UTF-8', LD_LIBRARY_PATH: join(dir, 'lib'), FONTCONFIG_PATH: dir } };
}

/**
 * A headless Chromium: the system's when there is one, else the one from npm, unpacked for this
 * browser and removed when it closes. Playwright gives each launch a fresh temporary user-data-dir.
 */
export async function launchChromium(): Promise<Browser> {
  const system = systemChromium();
  if (system) return chromium.launch({ executablePath: system, args: ARGS });
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-chromium-'));
  try {
    const browser = await chromium.launch({ ...(await unpackChromium(dir)), args: ARGS });
    browser.on('disconnected', () => rmSync(dir, { recursive: true, force: true }));
    return browser;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Every URL the page requested. */
  requests: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
}

/** A page in its own context (fresh storage) that records its requests and errors. */
export async function watchedPage(browser: Browser, options: { bypassCSP?: boolean } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, ...options });
  const page = await context.newPage();
  const watched: WatchedPage = { page, context, requests: [], errors: [] };
  context.on('request', (r) => watched.requests.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') watched.errors.push(m.text()); });
  page.on('pageerror', (e) => watched.errors.push(String(e)));
  return watched;
}
