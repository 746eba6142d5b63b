/** Walking an OpenAPI document the way a client generator would: operations, and a request from their examples. */

export interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header';
  example?: unknown;
  schema: { enum?: unknown[] };
}

export interface Operation {
  parameters: Parameter[];
  requestBody?: { content: Record<string, { example?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
  security?: object[];
}

export type Document = { openapi: string; paths: Record<string, Record<string, Operation>>; components: object };

export function operations(doc: Document): { path: string; method: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));
}

/** `/v1/projects/:id` as OpenAPI writes it: `/v1/projects/{id}`. */
export const openApiPath = (honoPath: string) => honoPath.replace(/:(\w+)/g, '{$1}');

/** The request the document's examples make: example query parameters, path parameters and body. */
export function exampleRequest(path: string, method: string, op: Operation): { url: string; init: RequestInit } {
  const query = new URLSearchParams();
  let url = path;
  for (const p of op.parameters) {
    const value = p.example ?? p.schema.enum?.[0];
    if (value === undefined) continue;
    if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(String(value)));
    if (p.in === 'query') for (const v of [value].flat()) query.append(p.name, String(v));
  }
  const json = op.requestBody?.content['application/json'];
  return {
    url: query.size ? `${url}?${query}` : url,
    init: {
      method: method.toUpperCase(),
      ...(json ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json.example) } : {}),
    },
  };
}
