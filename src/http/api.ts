import type { Context, Env, Hono, MiddlewareHandler } from 'hono';
import { every } from 'hono/combine';
import type { z } from 'zod';
import type { Role } from '../auth/keys.js';
import { parseInput, rawQuery, type QuerySchema } from './query.js';

export type Method = 'get' | 'post' | 'put' | 'delete';

/** Error answers a route can give besides 400/401/403, each with the one error body (see openapi.ts). */
export type ErrorStatus = 404 | 408 | 409 | 413 | 415 | 429 | 503;

export interface ResponseSpec {
  description: string;
  /** The JSON body. */
  schema?: z.ZodType;
  /** The media type of a body that is not JSON (CSV, Prometheus text, HTML, ...). */
  text?: string;
}

/**
 * What a route is, for the OpenAPI document: declared next to its handler and registered with it,
 * so no route exists without its description.
 */
export interface RouteSpec<Q extends QuerySchema | undefined = QuerySchema | undefined, P extends QuerySchema | undefined = QuerySchema | undefined> {
  method: Method;
  /** Hono syntax: `/v1/projects/:id`. */
  path: string;
  /** Validates the path parameters (documented as strings when absent); the route gets the parsed values. */
  params?: P;
  tag: string;
  summary: string;
  description?: string;
  /** The role a key needs once API keys are configured; the app's guard enforces it on this route. None: public. */
  role?: Role;
  /** Validates the query string; the route gets the parsed values. Unknown parameters are a 400. */
  query?: Q;
  /**
   * The request body as documented; the handler validates against it (whole, or in parts as a batch
   * route does). `contentTypes` defaults to JSON; the schema and example describe the JSON form.
   */
  body?: { schema: z.ZodType; contentTypes?: string[]; example: unknown };
  responses: Record<number, ResponseSpec>;
  errors?: readonly ErrorStatus[];
}

type Handler<E extends Env, Q, P> = (c: Context<E>, query: Q, params: P) => Response | Promise<Response>;
type Parsed<Q> = Q extends QuerySchema ? z.output<Q> : undefined;

/** What a declared role becomes on its route: the middleware that enforces it, run before the handler. */
export type Guard<E extends Env> = (role: Role) => MiddlewareHandler<E>[];

/**
 * A Hono app plus the descriptions of the routes registered through it. A route's declared role is
 * what protects it: `guard` turns it into the route's own middleware, so the document and the
 * enforcement cannot drift apart. `guardedErrors`: what every route behind a key may answer besides
 * its own errors (an app's routes behind keys are the ones that use its database: 503 while it
 * cannot be used).
 */
export class Api<E extends Env> {
  readonly specs: RouteSpec[] = [];

  constructor(readonly app: Hono<E>, private readonly guard: Guard<E> = () => [], private readonly guardedErrors: readonly ErrorStatus[] = []) {}

  route<Q extends QuerySchema | undefined = undefined, P extends QuerySchema | undefined = undefined>(
    spec: RouteSpec<Q, P>,
    handler: Handler<E, Parsed<Q>, Parsed<P>>,
  ): void {
    this.specs.push(spec.role ? { ...spec, errors: [...(spec.errors ?? []), ...this.guardedErrors] } : spec);
    const { query, params } = spec;
    const route = async function route(c: Context<E>) {
      return handler(
        c,
        (query ? parseInput(query, rawQuery(c)) : undefined) as Parsed<Q>,
        (params ? parseInput(params, c.req.param() as Record<string, string>) : undefined) as Parsed<P>,
      );
    };
    const method = spec.method.toUpperCase();
    if (spec.role) this.app.on(method, spec.path, every(...this.guard(spec.role)), route);
    else this.app.on(method, spec.path, route);
  }
}
