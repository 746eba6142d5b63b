import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForwardProtocol } from '../../collector/forward/config.js';
import { createTransport } from '../../collector/forward/transport.js';

/**
 * An export asked for once forwarding is stopping is not sent: the forwarder stops between the
 * groups of a batch, and an export started then would hold the stop for its whole timeout. The
 * upstream here takes connections and never answers, as a hung one does.
 */
let upstream: Server;
const sockets = new Set<Socket>();
beforeAll(async () => {
  upstream = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => upstream.close(resolve));
});

describe.each<ForwardProtocol>(['grpc', 'http/protobuf'])('the %s forward transport, already stopped', (protocol) => {
  it('answers at once that the export is to be retried, sending nothing', async () => {
    const { port } = upstream.address() as AddressInfo;
    const endpoint = protocol === 'grpc' ? `http://127.0.0.1:${port}` : `http://127.0.0.1:${port}/v1/traces`;
    const transport = createTransport('traces', { endpoint, protocol, headers: {}, gzip: false, timeoutMs: 10_000 });
    const connectionsBefore = sockets.size;
    const stop = new AbortController();
    stop.abort();
    try {
      const started = performance.now();
      const outcome = await transport.send([Buffer.from([])], stop.signal);
      expect(outcome).toMatchObject({ kind: 'retry', reason: 'stopping' });
      expect(performance.now() - started).toBeLessThan(1_000);
      // Time for a connection, had one been opened, to be taken.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(sockets.size).toBe(connectionsBefore);
    } finally {
      transport.close();
    }
  });
});
