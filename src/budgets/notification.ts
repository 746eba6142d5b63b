import { createHmac, randomUUID } from 'node:crypto';
import { isoUtc } from '../time.js';
import type { Target } from './schema.js';
import { apiStatus, type BudgetStatus } from './status.js';
import type { NewDelivery } from './store.js';

export const SIGNATURE_HEADER = 'X-Tokentally-Signature';
export const DELIVERY_HEADER = 'X-Tokentally-Delivery';

export type NotificationKind = 'budget.threshold_crossed' | 'budget.test';

/** `sha256=` and the hex HMAC-SHA256 of the body's bytes under the target's secret, as GitHub signs its webhooks. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** The budget and target a delivery belongs to, for /readyz and the logs: the URL without its path, which may be a secret (Slack's is). */
export function targetKey(budgetId: string, target: Target): string {
  return `${budgetId} ${target.type} ${new URL(target.url).origin}`;
}

function usd(value: number): string {
  return `$${value.toFixed(2)}`;
}

/** The body a target gets (docs/budgets.md, "Notifications"). */
export function notificationBody(kind: NotificationKind, status: BudgetStatus, threshold: number | null, target: Target, deliveryId: string, now: number): string {
  const api = apiStatus(status);
  if (target.type === 'slack') {
    const what = kind === 'budget.test' ? 'Test notification for budget' : `Budget`;
    const crossed = threshold === null ? '' : ` crossed ${threshold}% of its limit`;
    const text = `${what} *${api.name}* (${api.budget_id})${crossed}: ${usd(api.spent_usd)} of ${usd(api.limit_usd)} spent ` +
      `(${Math.round(api.ratio * 100)}%) this ${api.window.kind} window, forecast ${usd(api.forecast_usd)} by ${api.window.end}.`;
    return JSON.stringify({ text });
  }
  return JSON.stringify({
    type: kind,
    delivery_id: deliveryId,
    created_at: isoUtc(now),
    threshold_percent: threshold,
    budget: { id: status.budget.id, name: status.budget.name, scope: status.budget.scope, window: status.budget.window, tz: status.budget.tz, limit_usd: api.limit_usd },
    status: api,
  });
}

/** One delivery per target of the budget, each with its own id and body. */
export function deliveriesFor(kind: NotificationKind, status: BudgetStatus, threshold: number | null, now: number): NewDelivery[] {
  return status.budget.targets.map((target) => {
    const deliveryId = randomUUID();
    return {
      delivery_id: deliveryId, budget_id: status.budget.id, target, target_key: targetKey(status.budget.id, target),
      body: notificationBody(kind, status, threshold, target, deliveryId, now),
    };
  });
}

/** Why a send failed, in a line: fetch puts the network error (refused, timed out) in its cause. */
export function failureMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}

/** Posts one delivery; throws, saying why, unless the target answers 2xx. Redirects are not followed (a moved target is a failure to fix). */
export async function send(delivery: Pick<NewDelivery, 'target' | 'body' | 'delivery_id'>, timeoutMs: number): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'tokentally', [DELIVERY_HEADER]: delivery.delivery_id };
  if (delivery.target.type === 'webhook') headers[SIGNATURE_HEADER] = signature(delivery.target.secret, delivery.body);
  const res = await fetch(delivery.target.url, { method: 'POST', headers, body: delivery.body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  await res.body?.cancel();
  if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
}
