import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Env } from 'hono';
import type { Api } from '../../src/http/api.js';
import { PACKAGE_ROOT } from '../../src/paths.js';

const PUBLIC = join(PACKAGE_ROOT, 'reporting', 'dashboard', 'public');
const requireFile = createRequire(import.meta.url).resolve;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

// Everything the page loads comes from this origin; the browser refuses anything else, so the page
// works offline and never sends a request elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface Asset {
  type: string;
  body: Buffer;
  gzipped: Buffer;
  etag: string;
}

function asset(file: string): Asset {
  const body = readFileSync(file);
  return { type: TYPES[extname(file)]!, body, gzipped: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
}

/** URL path → asset: the page's own files, and the charting library from node_modules. */
function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(PUBLIC)) assets.set(name === 'index.html' ? '/' : `/dashboard/${name}`, asset(join(PUBLIC, name)));
  assets.set('/dashboard/uplot.js', asset(requireFile('uplot/dist/uPlot.iife.min.js')));
  assets.set('/dashboard/uplot.css', asset(requireFile('uplot/dist/uPlot.min.css')));
  return assets;
}

/**
 * The dashboard page at `/` and its assets under `/dashboard/`, read and gzipped once at start.
 * The page itself needs no key: it reads only the public API, which asks for one when auth is on.
 */
export function registerDashboard<E extends Env>(api: Api<E>): void {
  const assets = loadAssets();
  for (const [path, a] of assets) {
    const spec = {
      method: 'get', path, tag: 'dashboard', summary: path === '/' ? 'The cost dashboard page' : `Dashboard asset ${path.slice('/dashboard/'.length)}`,
      responses: { 200: { description: 'Served by the sidecar itself, gzipped when the client accepts it', text: a.type.split(';')[0]! } },
    } as const;
    api.route(spec, (c) => {
      const headers: Record<string, string> = {
        'Content-Type': a.type, ETag: a.etag, 'Cache-Control': 'no-cache', Vary: 'Accept-Encoding',
        'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': CSP,
      };
      if (c.req.header('if-none-match') === a.etag) return c.body(null, 304, headers);
      const gzip = /\bgzip\b/i.test(c.req.header('accept-encoding') ?? '');
      if (gzip) headers['Content-Encoding'] = 'gzip';
      return c.body(new Uint8Array(gzip ? a.gzipped : a.body), 200, headers);
    });
  }
}
