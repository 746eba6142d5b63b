import { Hono } from 'hono';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BodyReader } from '../../src/http/body.js';
import { ApiError } from '../../src/http/errors.js';

/** Bytes that do not compress to nothing, so a body spans many inflated pieces. */
function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = 0x61 + ((x >>> 16) % 8);
  }
  return out;
}

const reader = new BodyReader({ maxBodyBytes: 16 * 1024 * 1024, maxDecodedBytes: 8 * 1024 * 1024, maxDecodedBytesInFlight: 64 * 1024 * 1024, bodyIdleMs: 30_000, requestTimeoutMs: 300_000 });
const app = new Hono();
app.post('/', (c) => reader.read(c, (body) => c.json({ length: body.length, sha256: createHash('sha256').update(body).digest('hex') })));
app.onError((error, c) => c.json({ code: (error as ApiError).code }, (error as ApiError).status as 413));

const post = async (body: Buffer) => {
  const res = await app.request('/', { method: 'POST', body, headers: { 'content-encoding': 'gzip' } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const digest = (body: Buffer) => ({ length: body.length, sha256: createHash('sha256').update(body).digest('hex') });

describe('a gzip body is inflated to exactly its bytes', () => {
  it.each([
    ['small, joined at the end', [10_000]],
    ['3 MiB, placed as it comes (the trailer tells its size)', [3 * 1024 * 1024]],
    ['two members, the last 1.5 MiB: the rest goes beyond the placed part', [3 * 1024 * 1024, 1.5 * 1024 * 1024]],
    ['two members, the first tiny', [1_000, 2 * 1024 * 1024]],
    ['an empty body', [0]],
  ])('%s', async (_name, sizes) => {
    const members = sizes.map((size, i) => bytes(size, i + 1));
    const answer = await post(Buffer.concat(members.map((m) => gzipSync(m))));
    expect(answer).toEqual({ status: 200, body: digest(Buffer.concat(members)) });
  });

  it('refuses a body beyond the limit with 413, however its trailer spells its size', async () => {
    expect(await post(gzipSync(bytes(9 * 1024 * 1024, 7)))).toEqual({ status: 413, body: { code: 'body_too_large' } });
    expect(await post(Buffer.concat([gzipSync(bytes(5 * 1024 * 1024, 8)), gzipSync(bytes(4 * 1024 * 1024, 9))]))).toEqual({ status: 413, body: { code: 'body_too_large' } });
  });
});

describe('a gzip trailer is a hint, not a claim on memory', () => {
  it('a tiny body whose trailer claims megabytes gets no buffer of that size', async () => {
    let held = 0;
    const probe = new Hono();
    probe.post('/', (c) => reader.read(c, (body) => {
      held = process.memoryUsage().arrayBuffers;
      return c.json({ length: body.length });
    }));
    // Bytes after a complete gzip member are ignored by gunzip, yet their last four read as the ISIZE.
    const lie = Buffer.alloc(8);
    lie.writeUInt32LE(8 * 1024 * 1024, 4);
    const before = process.memoryUsage().arrayBuffers;
    const res = await probe.request('/', { method: 'POST', body: Buffer.concat([gzipSync(Buffer.from('{}')), lie]), headers: { 'content-encoding': 'gzip' } });
    expect(await res.json()).toEqual({ length: 2 });
    expect(held - before).toBeLessThan(1024 * 1024);
  });
});
