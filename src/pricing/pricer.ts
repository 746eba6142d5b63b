import type { UsageRecord } from '../event/schema.js';

/**
 * Fills in the cost of events that did not report one. Reported costs are never touched;
 * an event whose model has no price stays `unpriced` with cost 0.
 */
export interface Pricer {
  price(record: UsageRecord): void;
}
