import type { Budget, Target } from './schema.js';

/** A threshold crossed in one window of a budget. */
export interface Crossing {
  /** Percent of the limit. */
  threshold: number;
  /** Epoch ms: when an evaluation first saw spend at or above it. */
  crossed_at: number;
  spend_nanos: number;
}

/** A notification to send to one target. */
export interface NewDelivery {
  delivery_id: string;
  budget_id: string;
  /** As it was when the notification was made, secret included: an edit later does not redirect it. */
  target: Target;
  /** The budget and the target's URL: how failing targets are told apart. */
  target_key: string;
  /** The notification as JSON text (see notification.ts); retries send these very bytes. */
  body: string;
}

export interface Delivery extends NewDelivery {
  seq: number;
  /** Attempts made before this one. */
  attempts: number;
}

export type DeliveryOutcome =
  | { delivered: true; at: number }
  /** `retryAt` null: out of attempts, the delivery has failed for good. */
  | { delivered: false; at: number; error: string; retryAt: number | null };

/** A target whose latest finished delivery failed for good. */
export interface FailingTarget {
  budget_id: string;
  target_key: string;
  failed_at: number;
  error: string;
}

/** Budgets, their crossings and their notification outbox, in the same database as the events. */
export interface BudgetStore {
  list(): Promise<Budget[]>;
  get(id: string): Promise<Budget | null>;
  /** Creates or replaces the budget in one statement. */
  save(budget: Omit<Budget, 'created_at' | 'updated_at'>): Promise<{ budget: Budget; created: boolean }>;
  /** False when there was no such budget. Its crossings go with it; deliveries already made go on. */
  delete(id: string): Promise<boolean>;
  /** The thresholds crossed in the window (see BudgetWindow.key). */
  crossings(budgetId: string, windowKey: number): Promise<Crossing[]>;
  /**
   * Records the crossing and enqueues its deliveries in one transaction; false, enqueuing nothing,
   * when the window already holds it (another evaluation, or another collector, was first).
   */
  recordCrossing(budgetId: string, windowKey: number, crossing: Crossing, deliveries: readonly NewDelivery[], now: number): Promise<boolean>;
  /** Forgets crossings of the window whose spend fell back below them (a reprice), so crossing again alerts again. */
  clearCrossings(budgetId: string, windowKey: number, thresholds: readonly number[]): Promise<void>;
  /**
   * Runs `work` as the one instance that records crossings, or answers null when another holds that
   * role (PostgreSQL: a transaction-scoped advisory lock; SQLite: one process writes the file).
   */
  whileAlerting<T>(work: () => Promise<T>): Promise<T | null>;
  /** Leases up to `limit` due deliveries until `leaseUntil`; a lease another collector holds is skipped. */
  claimDeliveries(now: number, leaseUntil: number, limit: number): Promise<Delivery[]>;
  finishDelivery(seq: number, outcome: DeliveryOutcome): Promise<void>;
  failingTargets(): Promise<FailingTarget[]>;
  /**
   * Deletes deliveries finished before `before` (epoch ms) except each target's latest finished one,
   * which tells whether the target is failing; returns how many went.
   */
  pruneDeliveries(before: number): Promise<number>;
}
