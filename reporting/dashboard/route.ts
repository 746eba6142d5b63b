import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Env } from 'hono';
import type { Api } from '../../src/http/api.js';
import { contentType, pageHeaders, serveStatic } from '../../src/http/static.js';
import { PACKAGE_ROOT } from '../../src/paths.js';

const PUBLIC = join(PACKAGE_ROOT, 'reporting', 'dashboard', 'public');
const requireFile = createRequire(import.meta.url).resolve;

// Everything the page loads comes from this origin; the browser refuses anything else, so the page
// works offline and never sends a request elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** URL path → file: the page's own files, and the charting library from node_modules. */
function assetPaths(): Map<string, string> {
  const assets = new Map<string, string>();
  for (const name of readdirSync(PUBLIC)) assets.set(name === 'index.html' ? '/' : `/dashboard/${name}`, join(PUBLIC, name));
  assets.set('/dashboard/uplot.js', requireFile('uplot/dist/uPlot.iife.min.js'));
  assets.set('/dashboard/uplot.css', requireFile('uplot/dist/uPlot.min.css'));
  return assets;
}

/**
 * The dashboard page at `/` and its assets under `/dashboard/`, read and gzipped once per process.
 * The page itself needs no key: it reads only the public API, which asks for one when auth is on.
 */
export function registerDashboard<E extends Env>(api: Api<E>): void {
  for (const [path, file] of assetPaths()) {
    const spec = {
      method: 'get', path, tag: 'dashboard', summary: path === '/' ? 'The cost dashboard page' : `Dashboard asset ${path.slice('/dashboard/'.length)}`,
      responses: { 200: { description: 'Served by the sidecar itself, gzipped when the client accepts it', text: contentType(file).split(';')[0]! } },
    } as const;
    api.route(spec, (c) => serveStatic(c, file, { 'Cache-Control': 'no-cache', ...pageHeaders(CSP) }));
  }
}
