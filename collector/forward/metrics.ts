import { Counter, Gauge } from 'prom-client';
import { registryOf } from '../../src/telemetry.js';

const registers = [registryOf('collector')];

/** Forwarding's Prometheus metrics, served at the collector's /metrics. */
export const forwardMetrics = {
  forwarded: new Counter({
    name: 'tokentally_forward_forwarded_total', help: 'Outbox entries (accepted OTLP requests) the upstream took, by signal',
    labelNames: ['signal'], registers,
  }),
  retries: new Counter({
    name: 'tokentally_forward_retries_total', help: 'Exports to the upstream that failed transiently and will be retried, by signal',
    labelNames: ['signal'], registers,
  }),
  dropped: new Counter({
    name: 'tokentally_forward_dropped_total',
    help: 'Outbox entries dropped undelivered, by signal and reason (outbox_full; http_<status> or grpc_<code> for a permanent refusal; undecodable)',
    labelNames: ['signal', 'reason'], registers,
  }),
  droppedBytes: new Counter({
    name: 'tokentally_forward_dropped_bytes_total', help: 'Bytes of outbox entries dropped undelivered, by reason',
    labelNames: ['reason'], registers,
  }),
  outboxEntries: new Gauge({ name: 'tokentally_forward_outbox_entries', help: 'Entries waiting in the forward outbox', registers }),
  outboxBytes: new Gauge({ name: 'tokentally_forward_outbox_bytes', help: 'Bytes waiting in the forward outbox', registers }),
  oldestSeconds: new Gauge({ name: 'tokentally_forward_outbox_oldest_seconds', help: 'Age of the oldest entry in the forward outbox (0 when empty)', registers }),
};
