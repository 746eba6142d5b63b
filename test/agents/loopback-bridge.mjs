// Runs a command inside a loopback-only network namespace (see run-cli.ts, `isolate`) with some
// 127.0.0.1 ports of the outer namespace reachable: each listed port is listened on here and every
// connection is piped to `<socket dir>/<port>.sock`, a unix socket the outer process bridges on to
// the same port there. Unix sockets with a path are not bound to a network namespace, so these
// bridges are the only way out, and they lead to the test's own servers. Plain JavaScript, so Node
// runs it without a build. Usage: node loopback-bridge.mjs <socket dir> <port,port,…> <command> [args…]
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

const [socketDir, portList, command, ...args] = process.argv.slice(2);
if (!socketDir || !portList || !command) {
  console.error('usage: node loopback-bridge.mjs <socket dir> <port,port,…> <command> [args…]');
  process.exit(2);
}

const servers = await Promise.all(portList.split(',').map((port) => new Promise((resolve, reject) => {
  const server = createServer((inner) => {
    const outer = createConnection(join(socketDir, `${port}.sock`));
    inner.pipe(outer).pipe(inner);
    inner.on('error', () => outer.destroy());
    outer.on('error', () => inner.destroy());
  });
  server.once('error', reject);
  server.listen(Number(port), '127.0.0.1', () => resolve(server));
})));

const child = spawn(command, args, { stdio: 'inherit' });
child.on('error', (error) => {
  console.error(`loopback-bridge: ${command}: ${error.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  for (const server of servers) server.close();
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
