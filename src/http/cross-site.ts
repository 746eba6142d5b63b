import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const refuse = (reason: string) =>
  new ApiError(403, 'cross_site', `${reason}: a page on another site may not send writes here (send the request from a server or script, which sends no such header)`);

/**
 * Refuses requests that a browser sends on behalf of another site's page (a form post or a
 * fetch that needs no CORS preflight), in every mode, API keys or not. The check is the one of Go's
 * http.CrossOriginProtection: a browser that sends `Sec-Fetch-Site` says where the request comes
 * from (only `same-origin` and `none`, typed by the user, pass); an older one is judged by its
 * `Origin` against `Host`. Servers, agents, curl and Grafana's proxy send neither header and pass.
 */
export function refuseCrossSite(): MiddlewareHandler {
  return async function crossSite(c, next) {
    if (SAFE_METHODS.has(c.req.method)) return next();
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined) {
      if (site !== 'same-origin' && site !== 'none') throw refuse(`Sec-Fetch-Site: ${site.slice(0, 20)}`);
      return next();
    }
    const origin = c.req.header('origin');
    if (origin === undefined) return next();
    let originHost: string | null = null;
    try {
      originHost = new URL(origin).host;
    } catch {
      // "null" (a sandboxed page or a file) or garbage: not this origin.
    }
    if (originHost !== c.req.header('host')) throw refuse(`Origin ${origin.slice(0, 100)} is not this host (${(c.req.header('host') ?? '').slice(0, 100)})`);
    return next();
  };
}
