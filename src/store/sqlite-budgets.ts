import type Database from 'better-sqlite3';
import type { Budget } from '../budgets/schema.js';
import type { BudgetStore, Crossing, Delivery, DeliveryOutcome, FailingTarget, NewDelivery } from '../budgets/store.js';
import { ANY_DUE_SQL, BUDGET_SQL, budgetFromRow, budgetParams, deliveryFromRow, SQLITE_CLAIM_SQL } from './budget-queries.js';
import type { SqlRow } from './query-builder.js';

/** The budget tables on the store's main connection; writes are IMMEDIATE transactions, as the projects' are. */
export class SqliteBudgets implements BudgetStore {
  constructor(private readonly db: Database.Database) {}

  async list(): Promise<Budget[]> {
    return (this.db.prepare(BUDGET_SQL.list).all() as SqlRow[]).map(budgetFromRow);
  }

  async get(id: string): Promise<Budget | null> {
    const row = this.db.prepare(BUDGET_SQL.get).get(id) as SqlRow | undefined;
    return row ? budgetFromRow(row) : null;
  }

  async save(budget: Omit<Budget, 'created_at' | 'updated_at'>): Promise<{ budget: Budget; created: boolean }> {
    return this.db.transaction(() => {
      const created = this.db.prepare(BUDGET_SQL.exists).get(budget.id) === undefined;
      this.db.prepare(BUDGET_SQL.save).run(budgetParams(budget, new Date().toISOString()));
      return { budget: budgetFromRow(this.db.prepare(BUDGET_SQL.get).get(budget.id) as SqlRow), created };
    }).immediate();
  }

  async delete(id: string): Promise<boolean> {
    return this.db.prepare(BUDGET_SQL.delete).run(id).changes > 0;
  }

  async crossings(budgetId: string, windowKey: number): Promise<Crossing[]> {
    return this.db.prepare(BUDGET_SQL.crossings).all(budgetId, windowKey) as Crossing[];
  }

  async recordCrossing(budgetId: string, windowKey: number, crossing: Crossing, deliveries: readonly NewDelivery[], now: number): Promise<boolean> {
    return this.db.transaction(() => {
      const added = this.db.prepare(BUDGET_SQL.recordCrossing).get(budgetId, windowKey, crossing.threshold, crossing.crossed_at, crossing.spend_nanos);
      if (added === undefined) return false;
      const enqueue = this.db.prepare(BUDGET_SQL.enqueue);
      for (const d of deliveries) enqueue.run(d.delivery_id, d.budget_id, JSON.stringify(d.target), d.target_key, d.body, now, now);
      return true;
    }).immediate();
  }

  async clearCrossings(budgetId: string, windowKey: number, thresholds: readonly number[]): Promise<void> {
    if (thresholds.length === 0) return;
    this.db.prepare(`DELETE FROM budget_crossings WHERE budget_id = ? AND window_start = ? AND threshold IN (SELECT value FROM json_each(?))`)
      .run(budgetId, windowKey, JSON.stringify(thresholds));
  }

  async whileAlerting<T>(work: () => Promise<T>): Promise<T | null> {
    return work();
  }

  async claimDeliveries(now: number, leaseUntil: number, limit: number): Promise<Delivery[]> {
    if (this.db.prepare(ANY_DUE_SQL).get(now, now) === undefined) return [];
    return this.db.transaction(() => (this.db.prepare(SQLITE_CLAIM_SQL).all(leaseUntil, now, now, limit) as SqlRow[]).map(deliveryFromRow)).immediate();
  }

  async finishDelivery(seq: number, outcome: DeliveryOutcome): Promise<void> {
    if (outcome.delivered) this.db.prepare(BUDGET_SQL.delivered).run(outcome.at, seq);
    else if (outcome.retryAt === null) this.db.prepare(BUDGET_SQL.failed).run(outcome.at, outcome.error, seq);
    else this.db.prepare(BUDGET_SQL.retry).run(outcome.retryAt, outcome.error, seq);
  }

  async failingTargets(): Promise<FailingTarget[]> {
    return this.db.prepare(BUDGET_SQL.failing).all() as FailingTarget[];
  }

  async pruneDeliveries(before: number): Promise<number> {
    return this.db.prepare(BUDGET_SQL.prune).run(before).changes;
  }
}
