/**
 * The upstream of the forwarding figures (j), in a process of its own so that it takes no CPU from
 * the load generator: an OTLP/HTTP endpoint that reads each export whole and answers 200, as a
 * collector with nothing to do would. `GET /count` tells what it took. Usage: node dist/bench/forward.js
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const taken = { requests: 0, bytes: 0 };
const server = createServer((req, res) => {
  if (req.method === 'GET') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(taken));
  req.on('data', (chunk: Buffer) => (taken.bytes += chunk.length));
  req.on('end', () => {
    taken.requests++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`upstream listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => process.exit(0));
