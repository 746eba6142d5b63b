import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: any;
  /** The X-Tokentally-Signature header checked as a receiver would: HMAC-SHA256 of the raw body under the shared secret. */
  signatureValid: boolean;
}

export interface WebhookReceiver {
  url: string;
  received: Received[];
  /** The status the receiver answers with from now on. */
  answerWith(status: number): void;
  close(): Promise<void>;
}

/** A real HTTP endpoint on 127.0.0.1 that records what it is sent and verifies each signature with `secret`. */
export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const received: Received[] = [];
  let status = 200;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const header = String(req.headers['x-tokentally-signature'] ?? '');
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
      const given = Buffer.from(header);
      received.push({
        path: req.url ?? '', headers: req.headers, body: raw.toString('utf8'), json: JSON.parse(raw.toString('utf8')),
        signatureValid: given.length === expected.length && timingSafeEqual(given, expected),
      });
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    answerWith: (s) => (status = s),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
