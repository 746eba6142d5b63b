import type pg from 'pg';
import type { Budget } from '../budgets/schema.js';
import type { BudgetStore, Crossing, Delivery, DeliveryOutcome, FailingTarget, NewDelivery } from '../budgets/store.js';
import { BUDGET_SQL, budgetFromRow, budgetParams, deliveryFromRow, POSTGRES_CLAIM_SQL } from './budget-queries.js';
import { withClient } from './postgres-client.js';
import { numbered } from './postgres-queries.js';
import type { SqlRow } from './query-builder.js';

/** The advisory lock the alerting collector holds while it evaluates (another key than the migrations'). */
export const ALERT_LOCK_KEY = 7_301_975_232;

export type Transaction = <T>(work: (client: pg.PoolClient) => Promise<T>) => Promise<T>;

const SQL = Object.fromEntries(Object.entries(BUDGET_SQL).map(([name, sql]) => [name, numbered(sql)])) as typeof BUDGET_SQL;
const CLAIM_SQL = numbered(POSTGRES_CLAIM_SQL);
const CLEAR_SQL = 'DELETE FROM budget_crossings WHERE budget_id = $1 AND window_start = $2 AND threshold = ANY($3::float8[])';

/** The budget tables on the store's pool; `transaction` is the store's, retried after a deadlock. */
export class PostgresBudgets implements BudgetStore {
  constructor(private readonly pool: pg.Pool, private readonly transaction: Transaction) {}

  async list(): Promise<Budget[]> {
    return (await this.pool.query<SqlRow>(SQL.list)).rows.map(budgetFromRow);
  }

  async get(id: string): Promise<Budget | null> {
    const row = (await this.pool.query<SqlRow>(SQL.get, [id])).rows[0];
    return row ? budgetFromRow(row) : null;
  }

  async save(budget: Omit<Budget, 'created_at' | 'updated_at'>): Promise<{ budget: Budget; created: boolean }> {
    return this.transaction(async (client) => {
      const created = (await client.query(SQL.exists, [budget.id])).rowCount === 0;
      await client.query(SQL.save, budgetParams(budget, new Date().toISOString()));
      return { budget: budgetFromRow((await client.query<SqlRow>(SQL.get, [budget.id])).rows[0]!), created };
    });
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.pool.query(SQL.delete, [id])).rowCount ?? 0) > 0;
  }

  async crossings(budgetId: string, windowKey: number): Promise<Crossing[]> {
    return (await this.pool.query<SqlRow>(SQL.crossings, [budgetId, windowKey])).rows
      .map((r) => ({ threshold: Number(r.threshold), crossed_at: Number(r.crossed_at), spend_nanos: Number(r.spend_nanos) }));
  }

  async recordCrossing(budgetId: string, windowKey: number, crossing: Crossing, deliveries: readonly NewDelivery[], now: number): Promise<boolean> {
    return this.transaction(async (client) => {
      const added = await client.query(SQL.recordCrossing, [budgetId, windowKey, crossing.threshold, crossing.crossed_at, crossing.spend_nanos]);
      if (added.rowCount === 0) return false;
      for (const d of deliveries) await client.query(SQL.enqueue, [d.delivery_id, d.budget_id, JSON.stringify(d.target), d.target_key, d.body, now, now]);
      return true;
    });
  }

  async clearCrossings(budgetId: string, windowKey: number, thresholds: readonly number[]): Promise<void> {
    if (thresholds.length > 0) await this.pool.query(CLEAR_SQL, [budgetId, windowKey, thresholds]);
  }

  /**
   * The lock is held by a transaction open while `work` runs on other connections: a collector that
   * dies lets it go with its connection, and the next evaluation elsewhere takes over.
   */
  async whileAlerting<T>(work: () => Promise<T>): Promise<T | null> {
    return withClient(this.pool, async (client) => {
      await client.query('BEGIN');
      const { rows } = await client.query<{ held: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS held', [ALERT_LOCK_KEY]);
      try {
        return rows[0]!.held ? await work() : null;
      } finally {
        await client.query('COMMIT');
      }
    });
  }

  async claimDeliveries(now: number, leaseUntil: number, limit: number): Promise<Delivery[]> {
    return (await this.pool.query<SqlRow>(CLAIM_SQL, [leaseUntil, now, now, limit])).rows.map(deliveryFromRow);
  }

  async finishDelivery(seq: number, outcome: DeliveryOutcome): Promise<void> {
    if (outcome.delivered) await this.pool.query(SQL.delivered, [outcome.at, seq]);
    else if (outcome.retryAt === null) await this.pool.query(SQL.failed, [outcome.at, outcome.error, seq]);
    else await this.pool.query(SQL.retry, [outcome.retryAt, outcome.error, seq]);
  }

  async failingTargets(): Promise<FailingTarget[]> {
    return (await this.pool.query<SqlRow>(SQL.failing)).rows
      .map((r) => ({ budget_id: String(r.budget_id), target_key: String(r.target_key), failed_at: Number(r.failed_at), error: String(r.error) }));
  }

  async pruneDeliveries(before: number): Promise<number> {
    return (await this.pool.query(SQL.prune, [before])).rowCount ?? 0;
  }
}
