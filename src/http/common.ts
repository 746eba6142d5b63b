import type { Env, Hono } from 'hono';
import { errorResponse } from './errors.js';
import { registry, telemetry } from '../telemetry.js';

export interface Readiness {
  /** null when ready, else the reason the app cannot serve. */
  check(): Promise<string | null>;
}

/**
 * What both apps share: error mapping, request metrics, health, readiness and Prometheus metrics.
 * Registered first so the request counter sees every route.
 */
export function registerCommon<E extends Env>(app: Hono<E>, name: 'collector' | 'reporting', readiness: Readiness): void {
  app.onError(errorResponse);
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  app.use(async (c, next) => {
    await telemetry.withSpan(`${name} ${c.req.method}`, { 'http.request.method': c.req.method, 'url.path': c.req.path }, async (span) => {
      await next();
      span.updateName(`${c.req.method} ${c.req.routePath}`);
      span.setAttributes({ 'http.route': c.req.routePath, 'http.response.status_code': c.res.status });
    });
    telemetry.recordRequest(name, c.req.routePath, c.req.method, c.res.status);
  });
  app.get('/healthz', (c) => c.json({ status: 'ok', app: name }));
  app.get('/readyz', async (c) => {
    const reason = await readiness.check();
    return reason === null ? c.json({ status: 'ready', app: name }) : c.json({ status: 'not_ready', app: name, reason }, 503);
  });
  app.get('/metrics', async (c) => c.text(await registry.metrics(), 200, { 'Content-Type': registry.contentType }));
}
