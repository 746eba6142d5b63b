import { z } from 'zod';
import type { ErrorStatus, ResponseSpec, RouteSpec } from './api.js';
import { ErrorBody } from './errors.js';

/**
 * The OpenAPI 3.1 document of an app, assembled from its route specs: parameters, bodies and answers
 * are the JSON Schema of the zod schemas the routes validate with (OpenAPI 3.1 schemas are JSON Schema 2020-12).
 */

export interface DocumentInfo {
  title: string;
  version: string;
  description: string;
}

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[] };

const ERROR_ANSWERS: Record<400 | 401 | 403 | ErrorStatus, string> = {
  400: 'Bad input; the message names the field or parameter',
  401: 'No API key, or not a valid one (only once API_KEYS is set)',
  403: "The key's role or project scope does not allow this, or a browser sent this write from another site's page",
  404: 'No such resource',
  408: 'No byte of the body came for BODY_IDLE_TIMEOUT_MS, or it was not whole within REQUEST_TIMEOUT_MS; the connection is closed',
  409: 'The resource is in a state that does not allow this',
  413: 'The body, decompressed body or event count is over its limit',
  415: 'Unsupported Content-Type or Content-Encoding',
  429: 'The write queue is full, or the bodies being decoded hold MAX_DECODED_BYTES_IN_FLIGHT; retry after Retry-After seconds',
  503: 'Draining, the database or a thread of the store is unavailable, or (a budget check) the budgets are not known yet; retry after Retry-After seconds',
};
const RETRIED: readonly number[] = [429, 503];
/** What a route that takes a body may answer from its reading alone (BodyReader, body.ts). */
const BODY_ERRORS = [408, 413, 415, 429] as const;

const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
  apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
  basic: { type: 'http', scheme: 'basic', description: 'The key as the password (any user name), as Grafana sends it' },
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameters(where: 'query' | 'path', params: z.ZodObject): object[] {
  const schema = jsonSchema(params, 'input');
  return Object.entries(schema.properties ?? {}).map(([name, { description, example, ...property }]) => ({
    name,
    in: where,
    required: where === 'path' || (schema.required?.includes(name) ?? false),
    ...(description === undefined ? {} : { description }),
    ...(example === undefined ? {} : { example }),
    schema: property,
    // Lists are sent as repeated names (`?model=a&model=b`); a comma list works too.
    ...(property.type === 'array' ? { style: 'form', explode: true } : {}),
  }));
}

function answer({ description, schema, text }: ResponseSpec): object {
  const content = {
    ...(schema ? { 'application/json': { schema: jsonSchema(schema, 'output') } } : {}),
    ...(text ? { [text]: { schema: { type: 'string' } } } : {}),
  };
  return { description, ...(Object.keys(content).length ? { content } : {}) };
}

function errorAnswer(status: keyof typeof ERROR_ANSWERS): object {
  return {
    description: ERROR_ANSWERS[status],
    ...(RETRIED.includes(status) ? { headers: { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } } } : {}),
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
}

function operation(spec: RouteSpec): object {
  const pathParameters = spec.params
    ? parameters('path', spec.params)
    : [...spec.path.matchAll(/:(\w+)/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  const errors = [
    ...(spec.query || spec.params || spec.body ? [400 as const] : []),
    ...(spec.role ? [401 as const, 403 as const] : []),
    ...(spec.body ? BODY_ERRORS : []),
    ...(spec.errors ?? []),
  ];
  const responses: Record<string, object> = {};
  for (const [status, response] of Object.entries(spec.responses)) responses[status] = answer(response);
  for (const status of errors) responses[status] ??= errorAnswer(status);
  const description = [spec.description, spec.role && `Needs a key with the \`${spec.role}\` role (or \`admin\`) once API keys are configured.`]
    .filter(Boolean).join('\n\n');
  return {
    tags: [spec.tag],
    summary: spec.summary,
    ...(description ? { description } : {}),
    parameters: [...pathParameters, ...(spec.query ? parameters('query', spec.query) : [])],
    ...(spec.body ? {
      requestBody: {
        required: true,
        // The schema and example describe the JSON form; other encodings (protobuf) are opaque bytes here.
        content: Object.fromEntries((spec.body.contentTypes ?? ['application/json']).map((type) => [
          type, type === 'application/json' ? { schema: jsonSchema(spec.body!.schema, 'input'), example: spec.body!.example } : {},
        ])),
      },
    } : {}),
    responses,
    ...(spec.role ? { security: Object.keys(SECURITY_SCHEMES).map((name) => ({ [name]: [] })) } : {}),
  };
}

/**
 * zod writes a recursive schema (the OTLP AnyValue, named with `.meta({ id })`) into `$defs` of the
 * schema using it, with `#/$defs/…` refs; in a document such refs resolve from its root, so the
 * definitions move to components.schemas.
 */
function hoistDefinitions(node: unknown, schemas: Record<string, unknown>): void {
  if (node === null || typeof node !== 'object') return;
  const object = node as Record<string, unknown>;
  if (typeof object.$ref === 'string') object.$ref = object.$ref.replace(/^#\/\$defs\//, '#/components/schemas/');
  const defs = object.$defs;
  delete object.$defs;
  for (const value of Object.values(object)) hoistDefinitions(value, schemas);
  if (defs) {
    hoistDefinitions(defs, schemas);
    Object.assign(schemas, defs);
  }
}

export function openApiDocument(specs: readonly RouteSpec[], info: DocumentInfo): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const spec of specs) {
    const path = spec.path.replace(/:(\w+)/g, '{$1}');
    (paths[path] ??= {})[spec.method] = operation(spec);
  }
  const schemas: Record<string, unknown> = { Error: jsonSchema(ErrorBody, 'output') };
  hoistDefinitions(paths, schemas);
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      schemas,
      headers: { RetryAfter: { description: 'Seconds to wait before retrying (at most 5)', schema: { type: 'integer', minimum: 1 } } },
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}
