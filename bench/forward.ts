import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The upstream of the forwarding figures: an OTLP/HTTP endpoint on this machine that reads each
 * export whole and answers 200, as a collector with nothing to do would. It counts what it took.
 */
export interface Sink {
  url: string;
  requests: number;
  bytes: number;
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const sink: Sink = { url: '', requests: 0, bytes: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (sink.bytes += chunk.length));
    req.on('end', () => {
      sink.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sink.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return sink;
}

/** A URL where nothing listens: an upstream that is down for the whole run (every export refused at connect). */
export async function deadUpstream(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise((resolve) => server.close(resolve));
  return url;
}
