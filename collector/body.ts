import type { Context } from 'hono';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { ApiError } from '../src/http/errors.js';

const gunzipAsync = promisify(gunzip);

export interface BodyLimits {
  /** Decompressed size; the compressed size is limited by the bodyLimit middleware before this runs. */
  maxDecodedBytes: number;
}

/**
 * The request body as bytes, gunzipped when the client says so. Inflation stops at the limit,
 * so a small gzip bomb cannot grow in memory.
 */
export async function readBody(c: Context, limits: BodyLimits): Promise<Buffer> {
  const encoding = (c.req.header('content-encoding') ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new ApiError(415, 'unsupported_encoding', `Content-Encoding "${encoding}" is not supported; send gzip or no encoding`);
  }
  // The raw request's, not Hono's, which would keep the bytes for the life of the request: a
  // request waiting for its commit needs only its records. (A chunked body is the exception: the
  // body limit has already read it into a buffer the request keeps.)
  const raw = Buffer.from(await c.req.raw.arrayBuffer());
  if (encoding === 'identity') {
    if (raw.length > limits.maxDecodedBytes) throw tooLarge(limits);
    return raw;
  }
  try {
    return await gunzipAsync(raw, { maxOutputLength: limits.maxDecodedBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limits);
    throw new ApiError(400, 'bad_gzip', `body is not valid gzip: ${(error as Error).message}`);
  }
}

function tooLarge(limits: BodyLimits): ApiError {
  return new ApiError(413, 'body_too_large', `decompressed body exceeds ${limits.maxDecodedBytes} bytes (MAX_DECODED_BODY_BYTES)`);
}

/** The JSON routes take application/json (any parameters) or no Content-Type at all. */
export function requireJson(c: Context): void {
  const type = c.req.header('content-type');
  if (type === undefined) return;
  const media = type.split(';')[0]!.trim().toLowerCase();
  if (media !== 'application/json' && !media.endsWith('+json')) {
    throw new ApiError(415, 'unsupported_media_type', `Content-Type "${media}" is not supported; send application/json`);
  }
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ApiError(400, 'bad_json', `body is not valid JSON: ${(error as Error).message}`);
  }
}
