import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Context } from 'hono';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
};

export function contentType(path: string): string {
  return TYPES[extname(path)] ?? 'application/octet-stream';
}

/**
 * The headers of a page a browser renders (the dashboard, /docs): its Content-Security-Policy, no
 * framing by other sites (CSP frame-ancestors, and X-Frame-Options for browsers without it), no
 * MIME sniffing, and no address sent along to other sites.
 */
export function pageHeaders(csp: string): Record<string, string> {
  return { 'Content-Security-Policy': csp, 'X-Frame-Options': 'DENY', 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer' };
}

export interface StaticFile {
  type: string;
  body: Uint8Array<ArrayBuffer>;
  gzipped: Uint8Array<ArrayBuffer>;
  etag: string;
}

const files = new Map<string, StaticFile>();

/** A file the app serves as is: read, gzipped and hashed once per process, on first use. */
export function staticFile(path: string): StaticFile {
  let file = files.get(path);
  if (!file) {
    const body = new Uint8Array(readFileSync(path));
    file = { type: contentType(path), body, gzipped: new Uint8Array(gzipSync(body, { level: 9 })), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
    files.set(path, file);
  }
  return file;
}

/** The file with its ETag (304 when the client has it), gzipped when the client accepts it. */
export function serveStatic(c: Context, path: string, headers: Record<string, string>): Response {
  const file = staticFile(path);
  const all: Record<string, string> = { ...headers, 'Content-Type': file.type, ETag: file.etag, Vary: 'Accept-Encoding', 'X-Content-Type-Options': 'nosniff' };
  if (c.req.header('if-none-match') === file.etag) return c.body(null, 304, all);
  const gzip = /\bgzip\b/i.test(c.req.header('accept-encoding') ?? '');
  if (gzip) all['Content-Encoding'] = 'gzip';
  return c.body(gzip ? file.gzipped : file.body, 200, all);
}
