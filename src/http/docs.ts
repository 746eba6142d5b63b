import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Env } from 'hono';
import { z } from 'zod';
import { PACKAGE_VERSION } from '../paths.js';
import type { Api } from './api.js';
import { openApiDocument, type DocumentInfo } from './openapi.js';
import { contentType, pageHeaders, serveStatic } from './static.js';

/** Swagger UI's files, served by the app itself so the page works offline. */
const UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const UI_ASSETS = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png'];
// Relative URLs, so the page also works behind a proxy that mounts the app under a prefix.
// validatorUrl null: Swagger UI would otherwise send the document to an online validator.
// A key entered under "Authorize" stays in the page's memory unless the address asks for more
// (?persist_authorization=true): Swagger UI then keeps it in localStorage across reloads.
const INIT = `
const persistAuthorization = new URLSearchParams(location.search).get('persist_authorization') === 'true';
SwaggerUIBundle({ url: 'openapi.json', dom_id: '#api', validatorUrl: null, tryItOutEnabled: true, persistAuthorization });
`;

/** The page runs the app's own files and the one inline script above, named by its hash; it may not be framed. */
const CSP = [
  "default-src 'none'", `script-src 'self' 'sha256-${createHash('sha256').update(INIT).digest('base64')}'`,
  "style-src 'self'", "img-src 'self' data:", "connect-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

function page(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="api"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script>${INIT}</script>
</body>
</html>
`;
}

const DocsQuery = z.strictObject({
  persist_authorization: z.enum(['true', 'false']).optional()
    .meta({ description: 'Keep a key entered under "Authorize" in localStorage across reloads (default: only in the open page).', example: 'false' }),
});

/**
 * GET /openapi.json and the interactive /docs page. Register last: the document describes the
 * routes registered through `api` before the first request for it.
 */
export function registerDocs<E extends Env>(api: Api<E>, about: Omit<DocumentInfo, 'version'>): void {
  const info = { ...about, version: PACKAGE_VERSION };
  const html = page(info.title);
  let document: object | undefined;
  const tag = 'documentation';
  api.route({
    method: 'get', path: '/openapi.json', tag, summary: 'This OpenAPI 3.1 document',
    responses: { 200: { description: 'The document', schema: z.record(z.string(), z.unknown()) } },
  }, (c) => c.json((document ??= openApiDocument(api.specs, info))));
  api.route({
    method: 'get', path: '/docs', tag, summary: 'Interactive API documentation (Swagger UI)', query: DocsQuery,
    responses: { 200: { description: 'An HTML page that renders this document and sends calls', text: 'text/html' } },
  }, (c) => c.html(html, 200, pageHeaders(CSP)));
  for (const name of UI_ASSETS) {
    const file = join(UI_DIR, name);
    api.route({
      method: 'get', path: `/docs/${name}`, tag, summary: `${name}, a file of the documentation page`,
      responses: { 200: { description: 'The file, from the swagger-ui-dist package, gzipped when the client accepts it', text: contentType(file).split(';')[0]! } },
    }, (c) => serveStatic(c, file, { 'Cache-Control': 'public, max-age=86400' }));
  }
}
