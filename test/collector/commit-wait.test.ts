import Database from 'better-sqlite3';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { paddingBody } from '../../bench/agent-logs.js';
import { callGrpc, LOGS_EXPORT, openSession } from '../../bench/grpc.js';
import { EXPORTS, callExport, grpcClient } from '../support/grpc.js';
import { encodeProtobuf, otlpLogsRequest, otlpRequest } from '../support/otlp.js';
import { startTestService } from '../support/service.js';
import { metricValue, until } from '../support/wait.js';

/**
 * A request waiting for its commit holds only its answer's counts: records kept that long grow
 * old enough to reach V8's old generation, whose collections then stall the event loop under load
 * (docs/benchmarks.md, "Records held through the commit, session 15").
 */

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const usage = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 };
const claudeCall = (requestId: string) => ({
  body: 'claude_code.api_request',
  attributes: { 'event.name': 'api_request', request_id: requestId, model: 'claude-sonnet-4-5', input_tokens: 10, output_tokens: 5, cost_usd: 0.001 },
});

it('no route keeps its records once they are handed to the store, while the commit waits', async () => {
  const svc = await startTestService({ env: { WRITE_RETRY_MS: '20000' } });
  // The commits wait while another connection holds the write lock.
  const other = new Database(join(svc.dir, 'usage.db'));
  other.exec('BEGIN IMMEDIATE');
  const grpc = grpcClient(svc.grpcUrl);
  try {
    const handed: WeakRef<readonly UsageRecord[]>[] = [];
    const insertBatch = svc.store.insertBatch.bind(svc.store);
    svc.store.insertBatch = (records, ...rest) => {
      handed.push(new WeakRef(records));
      return insertBatch(records, ...rest);
    };
    const answers = [
      svc.ingest('/v1/usage', { events: Array.from({ length: 50 }, (_, i) => ({ id: `u-${i}`, agent_id: 'a', model: 'm', input_tokens: 1 })) }).then((r) => r.status),
      svc.ingest('/api/usage', { id: 'one', agent_id: 'a', model: 'm', input_tokens: 1 }).then((r) => r.status),
      svc.ingest('/v1/traces', otlpRequest([{ spanId: '00f067aa0ba902b7', attributes: usage }])).then((r) => r.status),
      svc.ingest('/v1/logs', otlpLogsRequest([claudeCall('req_http')], { resource: { 'service.name': 'claude-code' } })).then((r) => r.status),
      callExport(grpc, encodeProtobuf('logs', otlpLogsRequest([claudeCall('req_grpc')], { resource: { 'service.name': 'claude-code' } })), {}, EXPORTS.logs).then((a) => a.code),
    ];
    await until(async () => handed.length === answers.length && (await metricValue(svc.collectorUrl, 'tokentally_queue_events')) === 54, 'every request to wait for its commit');
    collectGarbage();
    collectGarbage();
    expect(handed.filter((records) => records.deref() !== undefined)).toHaveLength(0);

    other.exec('ROLLBACK');
    expect(await Promise.all(answers)).toEqual([200, 201, 200, 200, 0]);
    expect((await svc.report('/v1/reports/usage?from=2000-01-01')).body.totals.events).toBe(54);
  } finally {
    grpc.close();
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    await svc.close();
  }
});

it('a gRPC call waiting for its commit keeps none of the socket reads its message came in', async () => {
  const svc = await startTestService({ env: { WRITE_RETRY_MS: '20000' } });
  const other = new Database(join(svc.dir, 'usage.db'));
  other.exec('BEGIN IMMEDIATE');
  const session = await openSession(svc.grpcUrl);
  try {
    const calls = 8;
    const bytes = 512 * 1024;
    collectGarbage();
    const before = process.memoryUsage().arrayBuffers;
    // Each message is made in the call's argument: the client holds none of them once written.
    const answers = Array.from({ length: calls }, (_, i) =>
      callGrpc(session, LOGS_EXPORT, Buffer.concat([encodeProtobuf('logs', otlpLogsRequest([claudeCall(`req_${i}`)], { resource: { 'service.name': 'claude-code' } })), paddingBody(bytes)])));
    await until(async () => (await metricValue(svc.collectorUrl, 'tokentally_queue_events')) === calls, 'every call to wait for its commit');
    collectGarbage();
    collectGarbage();
    // grpc-js's decoder held views of each message's DATA frames, each pinning its 64 KiB socket read: 4 MB
    // here, and 146 KB when only the view of the compression flag was kept.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(calls * 8 * 1024);

    other.exec('ROLLBACK');
    expect((await Promise.all(answers)).map((a) => a.grpcStatus)).toEqual(Array(calls).fill(0));
  } finally {
    session.close();
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    await svc.close();
  }
});
