import { createAdaptorServer } from '@hono/node-server';
import type { Env, Hono } from 'hono';
import type { Server, ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { createCollectorApp, ingestDeps } from '../collector/app.js';
import { forwardConfig } from '../collector/forward/config.js';
import { Forwarder } from '../collector/forward/forwarder.js';
import { createGrpcFront, type GrpcFront } from '../collector/grpc.js';
import { checkCountMetrics } from '../collector/otlp/emitters.js';
import { BatchWriter } from '../collector/writer.js';
import { createReportingApp } from '../reporting/app.js';
import type { Config } from '../src/config.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { openReadyStore } from '../src/store/open.js';
import type { Store } from '../src/store/types.js';
import { startBookkeepingPrune, startRetention, type RetentionTask } from '../src/retention.js';
import { EvaluatorThread } from '../src/budgets/evaluator-main.js';
import { DeliverySender } from '../src/budgets/outbox.js';
import { telemetry } from '../src/telemetry.js';
import { BodyReader, type BodyLimits } from '../src/http/body.js';

export interface Service {
  store: Store;
  collectorUrl?: string;
  reportingUrl?: string;
  /** OTLP/gRPC, in the collector process: `http://host:port`, as OTLP exporters take it. */
  grpcUrl?: string;
  /** Stops accepting, answers and commits everything already accepted, then closes the database. */
  stop(): Promise<void>;
}

export interface Roles {
  collector: boolean;
  reporting: boolean;
}

/** Node's own default for a request's headers to come whole, set so that REQUEST_TIMEOUT_MS cannot shorten it. */
const HEADERS_TIMEOUT_MS = 60_000;

async function listen<E extends Env>(app: Hono<E>, host: string, port: number, variable: string, limits: BodyLimits): Promise<Server> {
  const server = createAdaptorServer({
    fetch: app.fetch,
    // Node's own limits, for what the body reader does not see: headers that never end, and a body
    // nobody reads. Node times a request from its first byte and the reader a body from its start,
    // at most HEADERS_TIMEOUT_MS later, and refuses it at most one idle period past
    // REQUEST_TIMEOUT_MS: Node's limit waits for all three, so the reader answers a trickle first.
    serverOptions: { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: HEADERS_TIMEOUT_MS + limits.requestTimeoutMs + limits.bodyIdleMs },
  }) as Server;
  // 100 Continue is the body reader's to send, once a request has passed the checks made before its
  // body is read (src/http/body.ts): Node would send it at once.
  server.on('checkContinue', (req, res) => server.emit('request', req, res));
  await bind(server, host, port, variable);
  return server;
}

/** Listens, or fails naming the address and the variable that set its port. */
function bind(server: NetServer, host: string, port: number, variable: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'is already in use' : error.code === 'EACCES' ? 'needs more privileges' : error.message;
      reject(new Error(`cannot listen on ${host}:${port} (${variable}): the address ${why}`));
    });
    server.listen(port, host, () => resolve());
  });
}

function urlOf(server: NetServer, host: string): string {
  const { port } = server.address() as AddressInfo;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function closeServer(server: Server, timeoutMs: number): Promise<void> {
  // A keep-alive client sending request after request would keep its connection, and so the
  // server, open until the timeout: every answer from now on closes its connection.
  // Registered ahead of the app's own handler, so no answer has been written yet.
  server.prependListener('request', (_req, res: ServerResponse) => res.setHeader('Connection', 'close'));
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export async function startService(config: Config, roles: Roles, now: () => number = Date.now): Promise<Service> {
  if (roles.collector) checkCountMetrics(config.COUNT_METRICS);
  const pricer = createPricer(loadPriceTable({ userFile: config.PRICES_FILE }));
  const store = await openReadyStore(config);
  const servers: Server[] = [];
  telemetry.serveProcessMetricsOn(roles.collector ? 'collector' : 'reporting');
  telemetry.limitSpendSeries(config.METRICS_MAX_SERIES);
  // One reader for both apps' bodies: MAX_DECODED_BYTES_IN_FLIGHT bounds them all, in one process.
  const bodies = new BodyReader({
    maxBodyBytes: config.MAX_BODY_BYTES, maxDecodedBytes: config.MAX_DECODED_BODY_BYTES, maxDecodedBytesInFlight: config.MAX_DECODED_BYTES_IN_FLIGHT, bodyIdleMs: config.BODY_IDLE_TIMEOUT_MS,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
  });
  let grpc: { front: GrpcFront; listener: NetServer } | undefined;
  const service: Service = { store, stop: async () => {} };
  let writer: BatchWriter | undefined;
  let retention: RetentionTask | undefined;
  let bookkeeping: RetentionTask | undefined;
  let sender: DeliverySender | undefined;
  let evaluator: EvaluatorThread | undefined;
  let forwarder: Forwarder | undefined;
  try {
    if (roles.collector) {
      const forwarding = forwardConfig(config);
      if (forwarding) (forwarder = new Forwarder(store, forwarding)).start();
      writer = new BatchWriter(store, {
        maxQueuedEvents: config.QUEUE_MAX_EVENTS,
        maxQueuedBytes: config.QUEUE_MAX_BYTES,
        maxBatchEvents: config.BATCH_MAX_EVENTS,
        retryForMs: config.WRITE_RETRY_MS,
      });
      const w = writer;
      telemetry.observeQueueDepth(() => w.queuedEvents);
      const s = (sender = new DeliverySender(store, { maxAttempts: config.BUDGET_NOTIFY_ATTEMPTS, timeoutMs: config.BUDGET_NOTIFY_TIMEOUT_MS, pollMs: 1_000, now: Date.now }));
      const e = (evaluator = new EvaluatorThread(config, store.budgets, () => s.wake()));
      const ingest = ingestDeps({
        store, writer, pricer, keys: config.API_KEYS, countMetrics: config.COUNT_METRICS, forward: forwarder,
        limits: { maxEventsPerRequest: config.MAX_EVENTS_PER_REQUEST, maxRecordsPerRequest: config.MAX_RECORDS_PER_REQUEST, maxValuesPerRequest: config.MAX_VALUES_PER_REQUEST },
        bodies,
        budgetStatuses: () => e.statuses(),
      });
      const server = await listen(createCollectorApp(ingest), config.HOST, config.COLLECTOR_PORT, 'COLLECTOR_PORT', bodies.limits);
      servers.push(server);
      service.collectorUrl = urlOf(server, config.HOST);
      const front = createGrpcFront(ingest);
      grpc = { front, listener: createServer((socket) => front.accept(socket)) };
      await bind(grpc.listener, config.HOST, config.GRPC_PORT, 'GRPC_PORT');
      service.grpcUrl = urlOf(grpc.listener, config.HOST);
      evaluator.start();
      sender.start();
      if (config.RAW_RETENTION_DAYS !== undefined) {
        retention = startRetention(store, config.RAW_RETENTION_DAYS, now, (error) => {
          telemetry.recordStorageError();
          console.error('raw retention: pruning failed, will try again in an hour:', error);
        });
      }
      bookkeeping = startBookkeepingPrune(store, { outbox: config.BUDGET_OUTBOX_RETENTION_DAYS, streams: config.METRIC_STREAM_RETENTION_DAYS }, now, (error) => {
        telemetry.recordStorageError();
        console.error('pruning delivered budget notifications and idle metric streams failed, will try again in an hour:', error);
      });
    }
    if (roles.reporting) {
      const server = await listen(createReportingApp({ store, keys: config.API_KEYS, bodies, now, notifyTimeoutMs: config.BUDGET_NOTIFY_TIMEOUT_MS, maxBudgets: config.MAX_BUDGETS }), config.HOST, config.REPORTING_PORT, 'REPORTING_PORT', bodies.limits);
      servers.push(server);
      service.reportingUrl = urlOf(server, config.HOST);
    }
  } catch (error) {
    grpc?.listener.close();
    await Promise.all([...servers.map((s) => closeServer(s, 0)), grpc?.front.close(0)]);
    await Promise.all([evaluator?.stop(), sender?.stop()]);
    await retention?.stop();
    await bookkeeping?.stop();
    await forwarder?.stop();
    await store.close();
    throw error;
  }
  service.stop = async () => {
    const closing = [...servers.map((s) => closeServer(s, config.SHUTDOWN_TIMEOUT_MS)), grpc?.front.close(config.SHUTDOWN_TIMEOUT_MS)];
    grpc?.listener.close();
    await writer?.drain();
    await Promise.all([evaluator?.stop(), sender?.stop()]);
    await retention?.stop();
    await bookkeeping?.stop();
    // Whatever it has not delivered stays in the outbox for the next start.
    await forwarder?.stop();
    await Promise.all(closing);
    await store.close();
  };
  return service;
}
