import type { Context } from 'hono';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { createGunzip, createInflate } from 'node:zlib';
import { excerpt } from '../excerpt.js';
import { bodyTooLarge } from './common.js';
import { ApiError, badRequest } from './errors.js';

export interface BodyLimits {
  /**
   * Size as sent: a declared Content-Length beyond it is refused by the limitBody middleware before
   * this runs, a chunked body here as it comes in.
   */
  maxBodyBytes: number;
  /** Decompressed size. */
  maxDecodedBytes: number;
  /**
   * Body bytes of all requests together (as received, plus decompressed), held as they arrive until
   * the body has been turned into records (or parsed, for the reporting app's JSON).
   */
  maxDecodedBytesInFlight: number;
  /**
   * A body that sends nothing for this long is given up with 408, so a stalled client holds the
   * budget for its bytes no longer.
   */
  bodyIdleMs: number;
  /** A body still coming this long after it started is given up with 408, however steadily it trickles. */
  requestTimeoutMs: number;
}

/** Seconds a client refused for lack of decoding budget waits: requests hold it for milliseconds. */
const BUSY_RETRY_AFTER = 1;
/**
 * A declared length up to this is made whole at the body's first byte; a longer one, or a chunked
 * body, grows from it (from CHUNKED_FIRST_BUFFER) as its bytes come, so a length declared and never
 * sent does not make its size.
 */
const DECLARED_FIRST_BUFFER = 1024 * 1024;
const CHUNKED_FIRST_BUFFER = 64 * 1024;
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

/** One body's share of the decoding budget (`BodyReader.arriving`). */
export interface BodyBudget {
  /** False when there is no room left for `bytes`, or the share was released. */
  hold(bytes: number): boolean;
  release(): void;
}

/** What a body can be compressed with: gzip over HTTP; gzip or deflate (zlib format) over gRPC. */
export type Compression = 'gzip' | 'deflate';

/**
 * Request bodies as bytes, gunzipped when the client says so, within a per-request limit and a
 * process-wide budget. Inflating stops at the per-request limit, so a small gzip bomb cannot grow in
 * memory; and since every body in flight holds its bytes in the budget, many bombs at once cannot
 * either: a request that finds the budget spent gets 429 with Retry-After.
 */
export class BodyReader {
  private inFlight = 0;

  constructor(readonly limits: BodyLimits) {}

  /**
   * Reads the body and hands it to `use`: its bytes stay in the budget until `use` returns (or the
   * promise it returns settles), and what it returns (records, not the body) is what the request keeps.
   */
  async read<T>(c: Context, use: (body: Buffer) => T | Promise<T>): Promise<T> {
    const encoding = (c.req.header('content-encoding') ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
      throw new ApiError(415, 'unsupported_encoding', `Content-Encoding "${excerpt(encoding)}" is not supported; send gzip or no encoding`);
    }
    const budget = this.arriving();
    try {
      const raw = await this.receive(c, encoding === 'identity', budget.hold);
      return await use(encoding === 'identity' ? raw : await this.inflate(raw, budget.hold, 'gzip'));
    } finally {
      budget.release();
    }
  }

  /**
   * One body's share of the budget, taken piece by piece (false: no room left) and given back whole,
   * once: a hold after the release is refused, so work still running for a body given up (an inflate
   * under way when its gRPC call ends) cannot hold bytes that nothing gives back. A share that is all
   * the budget holds always gets its bytes: a body's bytes as sent and inflated (and a gRPC call's
   * own 16 KiB) can together pass a budget that the limits allow to be as small as one decoded body,
   * and such a body, refused with "retry", would be refused on every retry. Alone, it is bounded by
   * its own limits.
   */
  arriving(): BodyBudget {
    let held = 0;
    let released = false;
    return {
      hold: (bytes) => {
        if (released || !this.fits(bytes, held)) return false;
        this.inFlight += bytes;
        held += bytes;
        return true;
      },
      release: () => {
        released = true;
        this.inFlight -= held;
        held = 0;
      },
    };
  }

  /**
   * The body as sent, each piece held in the budget as it arrives: a body still coming in holds
   * memory too, and clients that send slowly must not hold more than the budget between them, nor
   * more than they have sent (a declared length that never comes holds nothing). A declared length
   * the budget has no room for is refused before a byte is read; one that finds no room partway is
   * read to its end (at most its declared length) and dropped, so that a client that reads only
   * once it has sent still gets its 429. Read from the Node request, not through Hono, which would
   * keep the bytes for the life of the request: a request waiting for its commit needs only its
   * records.
   */
  private async receive(c: Context, identity: boolean, hold: (bytes: number) => boolean): Promise<Buffer> {
    const { maxBodyBytes, maxDecodedBytes } = this.limits;
    const limit = identity ? Math.min(maxBodyBytes, maxDecodedBytes) : maxBodyBytes;
    const check = (size: number) => {
      if (size > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
      if (size > limit) throw this.tooLarge();
    };
    const length = c.req.header('content-length');
    // Node has checked that a declared length is a number, and delivers exactly that many bytes.
    const declared = length !== undefined && c.req.header('transfer-encoding') === undefined ? Number(length) : undefined;
    if (declared !== undefined) {
      check(declared);
      if (!this.fits(declared, 0)) throw this.busy();
    }
    const body = declared === undefined ? new GrowingBuffer(limit, CHUNKED_FIRST_BUFFER) : new GrowingBuffer(declared, DECLARED_FIRST_BUFFER);
    let refused: ApiError | undefined;
    const stream = bodyStream(c);
    continueIfExpected(c);
    if (stream) {
      await readPieces(stream, this.limits, (chunk) => {
        if (refused) return;
        check(body.size + chunk.length);
        if (hold(chunk.length)) body.append(chunk);
        else if (declared !== undefined) refused = this.busy();
        else throw this.busy();
      });
    }
    if (refused) throw refused;
    return body.bytes();
  }

  /**
   * Holds a body that its transport has already read (a gRPC message, read by grpc-js and inflated
   * in its call's share: grpc.ts) in the same budget while `use` runs, as for `read`.
   */
  async hold<T>(body: Buffer, use: (body: Buffer) => T | Promise<T>): Promise<T> {
    const budget = this.arriving();
    if (!budget.hold(body.length)) throw this.busy();
    try {
      return await use(body);
    } finally {
      budget.release();
    }
  }

  /** Whether a share holding `held` bytes may take `bytes` more: when there is room, or when it is all the budget holds (see `arriving`). */
  private fits(bytes: number, held: number): boolean {
    return held === this.inFlight || this.inFlight + bytes <= this.limits.maxDecodedBytesInFlight;
  }

  /**
   * Inflates in pieces, each held in the budget as it comes; stops at the first piece beyond either
   * limit. A gzip body's buffer made ahead for the whole of it (PLACED_FROM) is held in the budget
   * whole before it is made, so a trailer that claims more than comes costs budget, not memory
   * beyond it. Also a gRPC message's (grpc.ts), whose `grpc-encoding` may be deflate (zlib format).
   */
  inflate(raw: Buffer, hold: (bytes: number) => boolean, compression: Compression): Promise<Buffer> {
    // ISIZE, the last member's size mod 2^32 (RFC 1952): a hint only, as a body may hold several members or lie.
    const expected = compression === 'gzip' && raw.length >= 18 ? raw.readUInt32LE(raw.length - 4) : 0;
    const placeable = expected >= PLACED_FROM && expected <= this.limits.maxDecodedBytes && expected <= raw.length * MAX_DEFLATE_RATIO;
    const target = placeable && hold(expected) ? Buffer.allocUnsafeSlow(expected) : undefined;
    return new Promise((resolve, reject) => {
      /** Pieces beyond what `target` took. */
      const chunks: Buffer[] = [];
      let placed = 0;
      let size = 0;
      let failed = false;
      const inflater = (compression === 'gzip' ? createGunzip : createInflate)({ chunkSize: INFLATE_CHUNK });
      const fail = (error: ApiError) => {
        failed = true;
        inflater.destroy();
        reject(error);
      };
      inflater.on('data', (chunk: Buffer) => {
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
      inflater.on('error', (error) => {
        if (!failed) fail(new ApiError(400, 'bad_gzip', `not valid ${compression} data: ${error.message}`));
      });
      inflater.on('end', () => {
        if (!failed) resolve(target && placed === size ? target.subarray(0, size) : Buffer.concat(target ? [target.subarray(0, placed), ...chunks] : chunks, size));
      });
      inflater.end(raw);
    });
  }

  private tooLarge(): ApiError {
    return new ApiError(413, 'body_too_large', `decompressed body exceeds ${this.limits.maxDecodedBytes} bytes (MAX_DECODED_BODY_BYTES)`);
  }

  /** The refusal of a body for which the budget has no room: 429, retry shortly. */
  busy(): ApiError {
    return new ApiError(
      429, 'decoding_busy',
      `the bodies being decoded hold the ${this.limits.maxDecodedBytesInFlight} bytes allowed at once (MAX_DECODED_BYTES_IN_FLIGHT); retry shortly`,
      BUSY_RETRY_AFTER,
    );
  }
}

/**
 * Bytes appended piece by piece into one buffer, made at `first` (or `limit`, when less) and doubled
 * as needed up to `limit`: each piece is copied out as it comes (so none keeps the socket's read
 * buffer alive, and a body of many tiny pieces costs its bytes, not an object each).
 */
class GrowingBuffer {
  private buffer = EMPTY;
  size = 0;

  constructor(private readonly limit: number, private readonly first: number) {}

  append(piece: Uint8Array): void {
    const size = this.size + piece.length;
    if (size > this.limit) throw badRequest(`the body is longer than its Content-Length, ${this.limit}`);
    if (size > this.buffer.length) {
      const grown = Buffer.allocUnsafeSlow(Math.min(this.limit, Math.max(size, this.first, 2 * this.buffer.length)));
      this.buffer.copy(grown, 0, 0, this.size);
      this.buffer = grown;
    }
    this.buffer.set(piece, this.size);
    this.size = size;
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.size);
  }
}

const EMPTY = Buffer.alloc(0);

/** The refusal of a body that sent nothing for `idleMs`. */
export const bodyTimeout = (idleMs: number) => new ApiError(408, 'body_timeout', `no byte of the body came for ${idleMs} ms (BODY_IDLE_TIMEOUT_MS)`);

/**
 * A check, made as each piece of a body comes, that the body started no more than `timeoutMs` ago:
 * a client that sends a byte just before each BODY_IDLE_TIMEOUT_MS would otherwise hold its share of
 * the budget, and its request, for as long as it likes. The refusal when it did, else undefined.
 */
export function overdue(timeoutMs: number): () => ApiError | undefined {
  const by = performance.now() + timeoutMs;
  return () => (performance.now() > by ? new ApiError(408, 'request_timeout', `the body did not come whole within ${timeoutMs} ms (REQUEST_TIMEOUT_MS)`) : undefined);
}

/** Node's test for an `Expect` header that asks for 100 Continue (_http_server.js). */
const EXPECTS_CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

/**
 * A client that sent `Expect: 100-continue` waits for it before it sends its body. The service's
 * servers leave it to be sent here (service/server.ts), once the request has passed every check
 * made before its body is read, so one refused by them (its key, its declared length, the decoding
 * budget) is answered without its body ever being sent. Only HTTP/1.1 clients get it, as from Node.
 */
function continueIfExpected(c: Context): void {
  const { incoming, outgoing } = nodeOf(c);
  if (outgoing && incoming?.httpVersion === '1.1' && EXPECTS_CONTINUE.test(incoming.headers.expect ?? '')) outgoing.writeContinue();
}

/** The Node request and response the server adapter serves the request with; none for a request made in process. */
const nodeOf = (c: Context) => (c.env ?? {}) as { incoming?: IncomingMessage; outgoing?: ServerResponse };

/** The request's body as Node delivers it; a web stream's (a request made in process, as tests do) otherwise. */
function bodyStream(c: Context): Readable | undefined {
  const { incoming } = nodeOf(c);
  if (incoming) return incoming;
  const body = c.req.raw.body;
  return body ? Readable.fromWeb(body as NodeReadableStream<Uint8Array>) : undefined;
}

/**
 * Hands each piece of `stream` to `take`, which may throw to stop reading; gives up with 408 after
 * `bodyIdleMs` without a byte, or at a piece that comes `requestTimeoutMs` after the first was
 * awaited. The bytes left unread are the server adapter's to drain or drop once the answer is written.
 */
function readPieces(stream: Readable, { bodyIdleMs: idleMs, requestTimeoutMs }: BodyLimits, take: (chunk: Buffer) => void): Promise<void> {
  const late = overdue(requestTimeoutMs);
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      stream.off('data', onData).off('end', onEnd).off('error', finish).off('close', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      try {
        const refusal = late();
        if (refusal) throw refusal;
        take(chunk);
        idle.refresh();
      } catch (error) {
        stream.pause();
        finish(error);
      }
    };
    const onEnd = () => finish();
    // Closed before its end: the client has gone, which the error answer tells from a fault of ours.
    const onClose = () => finish(new Error('the client closed the connection before the body was whole'));
    const idle = setTimeout(() => {
      stream.pause();
      finish(bodyTimeout(idleMs));
    }, idleMs);
    stream.on('data', onData).on('end', onEnd).on('error', finish).on('close', onClose);
    // Gone before it was read (it waited for its turn): 'close' has been and will not come again.
    if (stream.destroyed) onClose();
  });
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
