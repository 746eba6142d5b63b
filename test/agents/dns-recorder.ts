import { createSocket } from 'node:dgram';

/**
 * A DNS server on 127.0.0.1:53 that answers every query NXDOMAIN and remembers the name asked.
 * Inside the harness's namespace /etc/resolv.conf names it (see isolated.sh), so any host a CLI
 * tries to reach by name (update checks, vendor analytics, login) shows up here, however that CLI
 * makes its HTTP requests, and fails at once instead of leaving the machine.
 */

export interface DnsQuery {
  name: string;
  /** 1 = A, 28 = AAAA, 65 = HTTPS, … */
  type: number;
}

export interface DnsRecorder {
  queries: DnsQuery[];
  close(): Promise<void>;
}

export const RESOLV_CONF_LOOPBACK = /^\s*nameserver\s+127\.0\.0\.1\s*$/m;

export async function startDnsRecorder(): Promise<DnsRecorder> {
  const queries: DnsQuery[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (message, peer) => {
    const question = parseQuestion(message);
    if (!question) return;
    queries.push({ name: question.name, type: question.type });
    socket.send(nxdomain(message, question.end), peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(53, '127.0.0.1', () => resolve());
  });
  return { queries, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}

/** The first question of a DNS message: its name, type, and where the question section ends. */
function parseQuestion(message: Buffer): { name: string; type: number; end: number } | undefined {
  if (message.length < 12 || message.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < message.length && message[at] !== 0) {
    const length = message[at]!;
    if (length > 63) return undefined;
    labels.push(message.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  if (at + 5 > message.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: message.readUInt16BE(at + 1), end: at + 5 };
}

/** The query's id and question, flagged as a response with RCODE 3 (no such name). */
function nxdomain(query: Buffer, questionEnd: number): Buffer {
  const answer = Buffer.from(query.subarray(0, questionEnd));
  answer.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | 3, 2);
  answer.writeUInt16BE(1, 4);
  answer.writeUInt16BE(0, 6);
  answer.writeUInt16BE(0, 8);
  answer.writeUInt16BE(0, 10);
  return answer;
}
