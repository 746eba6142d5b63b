import type { MiddlewareHandler } from 'hono';
import { allows, findKey, OPEN_ACCESS, type ApiKey, type Principal, type Role } from '../auth/keys.js';
import { ApiError } from './errors.js';

export type AuthEnv = { Variables: { principal: Principal } };

/** The key from `Authorization: Bearer`, `Authorization: Basic` (password) or `X-API-Key`. */
function presentedKey(authorization: string | undefined, header: string | undefined): string | undefined {
  if (header) return header.trim();
  if (!authorization) return undefined;
  const [scheme = '', value = ''] = authorization.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer') return value;
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return undefined;
}

/**
 * Requires a key granting `role` once keys are configured, and records who asked as `principal`.
 * With no keys the service is open (it warns at start) and every request acts as admin.
 */
export function requireRole<E extends AuthEnv>(keys: readonly ApiKey[], role: Role): MiddlewareHandler<E> {
  return async function auth(c, next) {
    if (keys.length === 0) {
      c.set('principal', OPEN_ACCESS);
      return next();
    }
    const presented = presentedKey(c.req.header('authorization'), c.req.header('x-api-key'));
    const key = presented === undefined ? undefined : findKey(keys, presented);
    if (!key) {
      c.header('WWW-Authenticate', 'Bearer realm="tokentally"');
      throw new ApiError(401, 'unauthorized', presented === undefined ? 'an API key is required: send Authorization: Bearer <key>' : 'the API key is not valid');
    }
    if (!allows(key, role)) throw new ApiError(403, 'forbidden', `this key has the ${key.role} role; this route needs ${role}`);
    c.set('principal', { role: key.role, projects: key.projects });
    return next();
  };
}
