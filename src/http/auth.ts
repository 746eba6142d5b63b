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

/** What a request presents: its `Authorization` and `X-API-Key` headers, or gRPC metadata of the same names. */
export interface Credentials {
  authorization: string | undefined;
  apiKey: string | undefined;
}

/**
 * Who a request acts as: with no keys configured the service is open (it warns at start) and every
 * request acts as admin; otherwise its key must grant `role`. Throws 401 or 403 (an ApiError).
 */
export function authenticate(keys: readonly ApiKey[], role: Role, credentials: Credentials): Principal {
  if (keys.length === 0) return OPEN_ACCESS;
  const presented = presentedKey(credentials.authorization, credentials.apiKey);
  const key = presented === undefined ? undefined : findKey(keys, presented);
  if (!key) throw new ApiError(401, 'unauthorized', presented === undefined ? 'an API key is required: send Authorization: Bearer <key>' : 'the API key is not valid');
  if (!allows(key, role)) throw new ApiError(403, 'forbidden', `this key has the ${key.role} role; this route needs ${role}`);
  return { role: key.role, projects: key.projects };
}

/** Requires a key granting `role` (see `authenticate`) and records who asked as `principal`. */
export function requireRole<E extends AuthEnv>(keys: readonly ApiKey[], role: Role): MiddlewareHandler<E> {
  return async function auth(c, next) {
    try {
      c.set('principal', authenticate(keys, role, { authorization: c.req.header('authorization'), apiKey: c.req.header('x-api-key') }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) c.header('WWW-Authenticate', 'Bearer realm="tokentally"');
      throw error;
    }
    return next();
  };
}
