// The page reads the same public API as any client. A key, when the sidecar asks for one, lives in
// this tab's sessionStorage and goes out as a bearer token.

const KEY = 'tokentally.apiKey';

export class AuthRequired extends Error {}

export class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

/** JSON from the API; AuthRequired on 401, ApiFailure with the API's own message otherwise. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  const key = apiKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiFailure(0, `the sidecar did not answer (${error.message}); check that it is running, then reload`);
  }
  if (res.status === 401) throw new AuthRequired(key ? 'that key was not accepted' : 'an API key is required');
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new ApiFailure(res.status, json?.error?.message ?? `HTTP ${res.status}`);
  return json;
}

/** A query string from an object, skipping empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(name, value);
  return search.toString();
}
