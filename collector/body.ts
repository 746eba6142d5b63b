import type { Context } from 'hono';
import { createGunzip } from 'node:zlib';
import { excerpt } from '../src/excerpt.js';
import { bodyTooLarge } from '../src/http/common.js';
import { ApiError } from '../src/http/errors.js';

export interface BodyLimits {
  /**
   * Size as sent: a declared Content-Length beyond it is refused by the limitBody middleware before
   * this runs, a chunked body here as it comes in.
   */
  maxBodyBytes: number;
  /** Decompressed size. */
  maxDecodedBytes: number;
  /**
   * Body bytes of all requests together (as received, plus decompressed), held from before a body is
   * read until it has been turned into records.
   */
  maxDecodedBytesInFlight: number;
}

/** Seconds a client refused for lack of decoding budget waits: requests hold it for milliseconds. */
const BUSY_RETRY_AFTER = 1;
/** Inflated in pieces of this size, each taken from the budget before the next is made. */
const INFLATE_CHUNK = 64 * 1024;
/**
 * A body the gzip trailer says is at least this large is inflated into a buffer of that size, each
 * piece copied in as it comes: joining the pieces at the end would fault in the fresh memory of a
 * 50 MiB body at once, about 200 ms of CPU on the event loop on this machine.
 */
const PLACED_FROM = 1024 * 1024;
/** The most deflate can expand (RFC 1951: 258 bytes from a 2-bit code at best), so a trailer claiming more lies. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * Request bodies as bytes, gunzipped when the client says so, within a per-request limit and a
 * process-wide budget. Inflating stops at the per-request limit, so a small gzip bomb cannot grow in
 * memory; and since every body in flight holds its bytes in the budget, many bombs at once cannot
 * either: a request that finds the budget spent gets 429 with Retry-After.
 */
export class BodyReader {
  private inFlight = 0;

  constructor(private readonly limits: BodyLimits) {}

  /**
   * Reads the body and hands it to `use`: its bytes stay in the budget until `use` returns (or the
   * promise it returns settles), and what it returns (records, not the body) is what the request keeps.
   */
  async read<T>(c: Context, use: (body: Buffer) => T | Promise<T>): Promise<T> {
    const encoding = (c.req.header('content-encoding') ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
      throw new ApiError(415, 'unsupported_encoding', `Content-Encoding "${excerpt(encoding)}" is not supported; send gzip or no encoding`);
    }
    let held = 0;
    const hold = (bytes: number): boolean => {
      if (!this.take(bytes)) return false;
      held += bytes;
      return true;
    };
    try {
      const raw = await this.receive(c, encoding === 'identity', hold);
      return await use(encoding === 'identity' ? raw : await this.inflate(raw, hold));
    } finally {
      this.inFlight -= held;
    }
  }

  /**
   * The body as sent, held in the budget before its bytes are: a body still coming in holds memory
   * too, and clients that send slowly must not hold more than the budget between them. A declared
   * length is held whole first; any other body (chunked) piece by piece as it comes. Read from the raw
   * request, not through Hono, which would keep the bytes for the life of the request: a request
   * waiting for its commit needs only its records.
   */
  private async receive(c: Context, identity: boolean, hold: (bytes: number) => boolean): Promise<Buffer> {
    const { maxBodyBytes, maxDecodedBytes } = this.limits;
    const check = (size: number) => {
      if (size > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
      if (identity && size > maxDecodedBytes) throw this.tooLarge();
    };
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      // Node has checked that it is a number and that the body is that long.
      const declared = Number(length);
      check(declared);
      if (!hold(declared)) throw this.busy();
      return Buffer.from(await c.req.raw.arrayBuffer());
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of c.req.raw.body ?? []) {
      size += chunk.length;
      check(size);
      if (!hold(chunk.length)) throw this.busy();
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  }

  /**
   * Holds a body that its transport has already read and decoded within its own size limit (a gRPC
   * message, which grpc-js reads and gunzips) in the same budget while `use` runs, as for `read`.
   */
  async hold<T>(body: Buffer, use: (body: Buffer) => T | Promise<T>): Promise<T> {
    // Kept apart from the body, whose memory `use` may hand to another thread.
    const bytes = body.length;
    if (!this.take(bytes)) throw this.busy();
    try {
      return await use(body);
    } finally {
      this.inFlight -= bytes;
    }
  }

  private take(bytes: number): boolean {
    if (this.inFlight + bytes > this.limits.maxDecodedBytesInFlight) return false;
    this.inFlight += bytes;
    return true;
  }

  /**
   * Gunzips in pieces, each held in the budget as it comes; stops at the first piece beyond either
   * limit. A buffer made ahead for the whole body (PLACED_FROM) is held in the budget whole before
   * it is made, so a trailer that claims more than comes costs budget, not memory beyond it.
   */
  private inflate(raw: Buffer, hold: (bytes: number) => boolean): Promise<Buffer> {
    // ISIZE, the last member's size mod 2^32 (RFC 1952): a hint only, as a body may hold several members or lie.
    const expected = raw.length >= 18 ? raw.readUInt32LE(raw.length - 4) : 0;
    const placeable = expected >= PLACED_FROM && expected <= this.limits.maxDecodedBytes && expected <= raw.length * MAX_DEFLATE_RATIO;
    const target = placeable && hold(expected) ? Buffer.allocUnsafeSlow(expected) : undefined;
    return new Promise((resolve, reject) => {
      /** Pieces beyond what `target` took. */
      const chunks: Buffer[] = [];
      let placed = 0;
      let size = 0;
      let failed = false;
      const gunzip = createGunzip({ chunkSize: INFLATE_CHUNK });
      const fail = (error: ApiError) => {
        failed = true;
        gunzip.destroy();
        reject(error);
      };
      gunzip.on('data', (chunk: Buffer) => {
        if (failed) return;
        size += chunk.length;
        if (size > this.limits.maxDecodedBytes) return fail(this.tooLarge());
        const intoTarget = target !== undefined && placed === size - chunk.length && size <= target.length;
        if (!intoTarget && !hold(chunk.length)) return fail(this.busy());
        if (intoTarget) {
          chunk.copy(target, placed);
          placed = size;
        } else {
          chunks.push(chunk);
        }
      });
      gunzip.on('error', (error) => {
        if (!failed) fail(new ApiError(400, 'bad_gzip', `body is not valid gzip: ${error.message}`));
      });
      gunzip.on('end', () => {
        if (!failed) resolve(target && placed === size ? target.subarray(0, size) : Buffer.concat(target ? [target.subarray(0, placed), ...chunks] : chunks, size));
      });
      gunzip.end(raw);
    });
  }

  private tooLarge(): ApiError {
    return new ApiError(413, 'body_too_large', `decompressed body exceeds ${this.limits.maxDecodedBytes} bytes (MAX_DECODED_BODY_BYTES)`);
  }

  private busy(): ApiError {
    return new ApiError(
      429, 'decoding_busy',
      `the bodies being decoded hold the ${this.limits.maxDecodedBytesInFlight} bytes allowed at once (MAX_DECODED_BYTES_IN_FLIGHT); retry shortly`,
      BUSY_RETRY_AFTER,
    );
  }
}

/**
 * The JSON routes take application/json or a `+json` type (any parameters), nothing else: a web
 * page can send text/plain, a form or no Content-Type to another origin without asking (a CORS
 * "simple" request), but not JSON.
 */
export function requireJson(c: Context): void {
  const type = c.req.header('content-type') ?? '';
  const media = type.split(';')[0]!.trim().toLowerCase();
  if (media !== 'application/json' && !media.endsWith('+json')) {
    const sent = media === '' ? 'no Content-Type' : `Content-Type "${excerpt(media)}"`;
    throw new ApiError(415, 'unsupported_media_type', `${sent} is not supported; send application/json`);
  }
}
