// Budgets on the page: each as a bar of its spend against its limit, with the forecast marked, and
// a form for admins to create or edit one. It reads and writes the same /v1/budgets API as any client.
import { api, ApiFailure, AuthRequired } from './api.js';
import { usd } from './format.js';

const $ = (selector) => document.querySelector(selector);

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** The bar's full width stands for the larger of the limit and the forecast (at most twice the limit). */
function scaleOf(s) {
  return Math.min(2, Math.max(1, s.ratio, s.forecast_ratio));
}

function pct(ratio, scale) {
  return `${((Math.min(ratio, scale) / scale) * 100).toFixed(2)}%`;
}

function money(className, value) {
  const node = el('span', { className, textContent: usd(value) });
  node.dataset.value = String(value);
  return node;
}

function budgetItem(s) {
  const scale = scaleOf(s);
  const bar = el('div', { className: 'bar', role: 'img', ariaLabel: `${s.name}: ${usd(s.spent_usd)} of ${usd(s.limit_usd)} spent, forecast ${usd(s.forecast_usd)}` },
    el('div', { className: `fill ${s.state}`, style: `width:${pct(s.ratio, scale)}` }),
    el('div', { className: 'limit-mark', style: `left:${pct(1, scale)}`, title: 'limit' }),
    el('div', { className: 'forecast-mark', style: `left:${pct(s.forecast_ratio, scale)}`, title: `forecast ${usd(s.forecast_usd)}` }));
  const window = s.window.kind.match(/^\d/) ? `last ${s.window.kind}` : `this ${s.window.kind} (${s.window.tz})`;
  const edit = el('button', { type: 'button', textContent: 'Edit', ariaLabel: `Edit budget ${s.name}`, onclick: () => editBudget(s.budget_id) });
  const item = el('li', { className: s.archived ? 'archived' : '' },
    el('div', { className: 'budget-head' },
      el('strong', { textContent: s.name }), el('span', { className: 'muted', textContent: ` ${window}${s.archived ? ', project archived: no alerts' : ''}` }), edit),
    bar,
    el('div', { className: 'budget-figures' },
      money('spent', s.spent_usd), ' of ', money('limit', s.limit_usd), ` (${Math.round(s.ratio * 100)}%) · forecast `, money('forecast', s.forecast_usd),
      el('span', { className: `state ${s.state}`, textContent: ` ${s.state}` })));
  item.dataset.budget = s.budget_id;
  item.dataset.state = s.state;
  return item;
}

function say(text, kind = '') {
  const status = $('#budget-status');
  status.className = kind;
  status.textContent = text;
}

export async function loadBudgets() {
  try {
    const { budgets } = await api('/v1/budgets/status');
    $('#budgets').replaceChildren(...budgets.map(budgetItem));
    if (budgets.length === 0) $('#budgets').append(el('li', { className: 'muted', textContent: 'No budgets yet.' }));
  } catch (error) {
    if (error instanceof AuthRequired) throw error;
    say(`Could not load the budgets: ${error.message}`, 'error');
  }
}

const form = () => $('#budget-form');
const list = (text) => text.split(',').map((v) => v.trim()).filter(Boolean);

/** Fills the form with a stored budget (admin: the budget's targets are an admin's to see). */
async function editBudget(id) {
  try {
    const b = await api(`/v1/budgets/${encodeURIComponent(id)}`);
    const f = form().elements;
    f.id.value = b.id;
    f.name.value = b.name;
    f.project.value = (b.scope.project ?? []).join(', ');
    f.agent.value = (b.scope.agent ?? []).join(', ');
    f.window.value = b.window;
    f.tz.value = b.tz;
    f.limit.value = String(b.limit_usd);
    f.thresholds.value = b.thresholds.join(', ');
    f.webhook.value = b.targets.find((t) => t.type === 'webhook')?.url ?? '';
    f.secret.value = '';
    f.slack.value = b.targets.find((t) => t.type === 'slack')?.url ?? '';
    form().hidden = false;
    f.limit.focus();
    say(`Editing ${b.name}; a webhook secret left empty keeps the stored one.`);
  } catch (error) {
    say(error instanceof ApiFailure && error.status === 403 ? 'Editing budgets needs an admin key.' : `Could not read the budget: ${error.message}`, 'error');
  }
}

async function saveBudget(event) {
  event.preventDefault();
  const f = form().elements;
  const scope = {};
  if (f.project.value.trim()) scope.project = list(f.project.value);
  if (f.agent.value.trim()) scope.agent = list(f.agent.value);
  const targets = [];
  if (f.webhook.value.trim()) targets.push({ type: 'webhook', url: f.webhook.value.trim(), ...(f.secret.value ? { secret: f.secret.value } : {}) });
  if (f.slack.value.trim()) targets.push({ type: 'slack', url: f.slack.value.trim() });
  const body = {
    ...(f.name.value.trim() ? { name: f.name.value.trim() } : {}), scope, window: f.window.value, tz: f.tz.value.trim() || 'UTC',
    limit_usd: Number(f.limit.value), thresholds: list(f.thresholds.value).map(Number), targets,
  };
  try {
    await api(`/v1/budgets/${encodeURIComponent(f.id.value.trim())}`, { method: 'PUT', body });
    say(`Saved budget ${f.id.value.trim()}.`);
    await loadBudgets();
  } catch (error) {
    say(error instanceof ApiFailure && error.status === 403 ? `Saving budgets needs an admin key: ${error.message}` : `Not saved: ${error.message}`, 'error');
  }
}

$('#budget-new').addEventListener('click', () => {
  form().reset();
  form().hidden = false;
  form().elements.id.focus();
  say('');
});
form().addEventListener('submit', saveBudget);
