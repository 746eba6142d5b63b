import { api, apiKey, ApiFailure, AuthRequired, query } from './api.js';
import { loadBudgets } from './budgets.js';
import { drawSpendChart, seriesOf } from './chart.js';
import { change, int, usd } from './format.js';
import { FILTERS, nextDay, previousDay, readView, sameDaysLastMonth, viewUrl } from './view.js';

const $ = (selector) => document.querySelector(selector);
let view = readView();
let chart = null;
/** Projects are listed a page at a time (a sidecar may hold 100,000), pinned ones first; `q` finds others. */
const PROJECTS_PAGE = 100;
const projectList = { q: '', items: [], next: null };
/** Counts loads, so an answer to an earlier view never overwrites a later one. */
let loads = 0;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** A number a test (or a curious reader) can check exactly: the formatted text plus the raw value. */
function figure(node, value, format) {
  node.textContent = format(value);
  node.dataset.value = String(value);
  return node;
}

/** The message area; `kind` also marks the page's state (loading, error, auth, empty or ready). */
function setStatus(kind, ...content) {
  document.body.dataset.state = kind || 'ready';
  const status = $('#status');
  status.className = kind;
  status.replaceChildren(...content);
}

function showError(error) {
  if (error instanceof AuthRequired) return askForKey(error.message);
  const retry = el('button', { type: 'button', textContent: 'Try again', onclick: load });
  setStatus('error', `Could not load the dashboard: ${error.message}. `, retry);
}

function askForKey(message) {
  $('#main').hidden = true;
  $('#auth').hidden = false;
  $('#auth-error').textContent = apiKey.get() ? `${message}; paste another key.` : '';
  setStatus('auth', 'This sidecar has API keys turned on: paste a read key to see its spend.');
  $('#auth input[name=key]').focus();
}

function curlExample() {
  const collector = `${location.protocol}//${location.hostname}:4318`;
  return `curl -s ${collector}/v1/usage -H 'content-type: application/json' -d '{"events": [{"project": "atlas", "agent_id": "planner", "model": "gpt-4o", "input_tokens": 1200, "output_tokens": 300}]}'`;
}

function renderMonth(now, before) {
  const pairs = [['cost', 'cost_usd', usd], ['tokens', 'total_tokens', int], ['events', 'events', int]];
  for (const [id, metric, format] of pairs) {
    figure($(`#mtd-${id}`), now.totals[metric], format);
    $(`#mtd-${id}-change`).textContent = change(now.totals[metric], before.totals[metric]);
  }
}

function moveButton(project, pinned, index, step) {
  const target = index + step;
  const label = `Move ${project.name} ${step < 0 ? 'up' : 'down'}`;
  return el('button', {
    type: 'button', textContent: step < 0 ? '↑' : '↓', title: label, ariaLabel: label,
    disabled: target < 0 || target >= pinned.length,
    onclick: () => {
      const order = pinned.map((p) => p.id);
      [order[index], order[target]] = [order[target], order[index]];
      applyPinChange(() => api('/v1/projects/pins', { method: 'PUT', body: { order } }), label, project.id);
    },
  });
}

/** A page of projects from the API, matching the search, after `cursor` (or the first). */
function projectsPage(cursor) {
  return api(`/v1/projects?${query({ limit: PROJECTS_PAGE, q: projectList.q, cursor })}`);
}

/** Shows `page` as the list (or after it, for "Show more"), with a way to the next page when there is one. */
function showProjects(page, append = false) {
  projectList.items = append ? projectList.items.concat(page.projects) : page.projects;
  projectList.next = page.next_cursor;
  renderProjects(projectList.items);
  const more = $('#projects-more');
  more.hidden = !page.next_cursor;
  more.querySelector('span').textContent = `Showing ${projectList.items.length} projects${projectList.q ? ` matching “${projectList.q}”` : ''}; find one by its id or name above, or`;
}

/** Children from a list of any length: spreading 100,000 of them into one call would overflow the stack. */
function fill(parent, nodes) {
  const fragment = document.createDocumentFragment();
  for (const node of nodes) fragment.append(node);
  parent.replaceChildren(fragment);
}

function renderProjects(projects) {
  // Reordering sends the whole pinned set, which only the unfiltered list holds.
  const pinned = projectList.q ? [] : projects.filter((p) => p.pinned);
  fill($('#projects'), projects.map((p) => {
    const index = pinned.indexOf(p);
    const pinLabel = `${p.pinned ? 'Unpin' : 'Pin'} ${p.name}`;
    const pinButton = el('button', {
      type: 'button', textContent: p.pinned ? 'Unpin' : 'Pin', ariaLabel: pinLabel, className: 'pin',
      onclick: () => applyPinChange(() => api(`/v1/projects/${encodeURIComponent(p.id)}/pin`, { method: p.pinned ? 'DELETE' : 'POST' }), pinLabel, p.id),
    });
    const link = el('a', { href: viewUrl({ ...view, project: p.id }), textContent: p.name });
    const actions = p.pinned && index >= 0 ? [moveButton(p, pinned, index, -1), moveButton(p, pinned, index, 1), pinButton] : [pinButton];
    const item = el('li', { className: p.pinned ? 'pinned' : '' },
      el('span', { className: 'name' }, p.pinned ? el('span', { className: 'star', ariaHidden: 'true', textContent: '★ ' }) : '', link),
      figure(el('span', { className: 'cost' }), p.current_month.cost_usd, usd),
      el('span', { className: 'actions' }, ...actions));
    item.dataset.project = p.id;
    return item;
  }));
  if (projects.length === 0) {
    const none = projectList.q ? `No project's id or name contains “${projectList.q}”.` : 'No projects yet: one appears with its first event.';
    $('#projects').append(el('li', { className: 'muted', textContent: none }));
  }
}

/**
 * Runs a pin change, then re-reads the list. Focus stays on the control that was used, or on the
 * project's first usable one when that control is gone (unpinned) or disabled (moved to an end).
 */
async function applyPinChange(write, label, projectId) {
  try {
    await write();
    showProjects(await projectsPage());
    setStatus('', `Done: ${label}.`);
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 403) return setStatus('error', `${label}: ${error.message}. Changing pins needs an admin key.`);
    return showError(error);
  }
  const buttons = [...document.querySelectorAll(`#projects li[data-project="${CSS.escape(projectId)}"] button:not(:disabled)`)];
  (buttons.find((b) => b.ariaLabel === label) ?? buttons[0])?.focus();
}

/** A table with a header row, one row per item (its first cell a row header), or a line saying there is none. */
function fillTable(table, headings, rows, none) {
  const head = el('tr', {}, ...headings.map((t) => el('th', { scope: 'col', textContent: t })));
  const empty = el('tr', {}, el('td', { colSpan: headings.length, className: 'muted', textContent: none }));
  const body = el('tbody');
  fill(body, rows.length ? rows : [empty]);
  table.replaceChildren(el('thead', {}, head), body);
}

function renderTop(table, report, dimension) {
  fillTable(table, [dimension[0].toUpperCase() + dimension.slice(1), 'Cost', 'Tokens', 'Events'], report.groups.map((g) => el('tr', {},
    el('th', { scope: 'row', textContent: g.other ? 'everything else' : g.key[dimension] ?? `(no ${dimension})` }),
    figure(el('td'), g.cost_usd, usd), figure(el('td'), g.total_tokens, int), figure(el('td'), g.events, int))), 'No spend in this range.');
}

function renderUnpriced(models, rest) {
  const row = (name, provider, m) => el('tr', {}, el('th', { scope: 'row', textContent: name }), el('td', { textContent: provider ?? '—' }),
    figure(el('td'), m.events, int), figure(el('td'), m.input_tokens, int), figure(el('td'), m.output_tokens, int));
  const rows = models.map((m) => row(m.model, m.provider, m));
  if (rest) rows.push(row('other unpriced models', null, rest));
  fillTable($('#unpriced'), ['Model', 'Provider', 'Events', 'Input tokens', 'Output tokens'], rows, 'Every model in this range has a price.');
}

function renderChart(timeseries) {
  const series = seriesOf(timeseries, view.stack);
  $('#chart').ariaLabel = `Daily spend from ${timeseries.buckets[0]} to ${timeseries.buckets.at(-1)}, stacked by ${view.stack}`;
  chart?.destroy();
  chart = series.length ? drawSpendChart($('#chart'), timeseries, series) : null;
  if (!chart) $('#chart').replaceChildren(el('p', { className: 'muted', textContent: 'No spend in this range with these filters: widen the dates or clear a filter.' }));
  $('#chart-legend tbody').replaceChildren(...series.map((s) => el('tr', {},
    el('th', { scope: 'row' }, el('span', { className: 'swatch', style: `background:${s.color}` }), s.label),
    figure(el('td'), s.total, usd))));
}

function renderFilters(projects, options, range) {
  const form = $('#filters');
  const choices = (name, values) => {
    const select = form.elements[name];
    const all = [...new Set([...values, view[name]].filter(Boolean))].sort();
    fill(select, [select.options[0], ...all.map((v) => el('option', { value: v, textContent: v }))]);
    select.value = view[name];
  };
  choices('project', projects.map((p) => p.id));
  choices('agent', options.groups.map((g) => g.key.agent).filter((v) => v !== null));
  choices('model', options.groups.map((g) => g.key.model).filter((v) => v !== null));
  form.elements.from.value = range.from;
  form.elements.to.value = previousDay(range.to);
  for (const radio of document.querySelectorAll('input[name=stack]')) radio.checked = radio.value === view.stack;
}

async function load() {
  const ticket = ++loads;
  setStatus('loading', 'Loading…');
  $('#main').ariaBusy = 'true';
  try {
    const [stats, projects] = await Promise.all([api('/v1/stats/current-month?limit=0'), projectsPage(), loadBudgets()]);
    const filters = Object.fromEntries(FILTERS.map((name) => [name, view[name]]));
    const range = { from: view.from || stats.from.slice(0, 10), to: view.to ? nextDay(view.to) : stats.to.slice(0, 10) };
    const top = (dimension) => api(`/v1/reports/usage?${query({ group_by: dimension, limit: 5, ...range, ...filters })}`);
    const [now, before, timeseries, models, agents, tasks, options] = await Promise.all([
      api(`/v1/reports/usage?${query({ from: stats.from, to: stats.to, ...filters })}`),
      api(`/v1/reports/usage?${query({ ...sameDaysLastMonth(stats.from, stats.as_of), ...filters })}`),
      api(`/v1/reports/timeseries?${query({ interval: 'day', group_by: view.stack, limit: 8, ...range, ...filters })}`),
      top('model'), top('agent'), top('task'),
      api(`/v1/reports/usage?${query({ group_by: 'agent,model', limit: 1000, ...range })}`),
    ]);
    if (ticket !== loads) return;
    $('#auth').hidden = true;
    $('#main').hidden = false;
    $('#as-of').textContent = `${stats.month} (UTC), as of ${stats.as_of.replace('T', ' ').replace(/(:\d\d)(\.\d+)?Z$/, '$1 UTC')}`;
    renderFilters(projects.projects, options, range);
    renderMonth(now, before);
    showProjects(projects);
    renderChart(timeseries);
    renderTop($('#top-model'), models, 'model');
    renderTop($('#top-agent'), agents, 'agent');
    renderTop($('#top-task'), tasks, 'task');
    renderUnpriced(models.unpriced_models, models.unpriced_models_rest);
    if (stats.global.events === 0) {
      setStatus('empty', el('strong', { textContent: 'No events this month yet.' }), ' Send one with curl (the collector listens on port 4318 by default):',
        el('pre', {}, el('code', { textContent: curlExample() })));
    } else {
      setStatus('', '');
    }
  } catch (error) {
    if (ticket === loads) showError(error);
  } finally {
    if (ticket === loads) $('#main').ariaBusy = 'false';
  }
}

function navigate(next) {
  view = next;
  history.pushState(null, '', viewUrl(view));
  load();
}

$('#filters').addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  navigate({ ...view, ...Object.fromEntries(['from', 'to', ...FILTERS].map((name) => [name, String(data.get(name) ?? '')])) });
});
$('#project-search').addEventListener('submit', async (event) => {
  event.preventDefault();
  projectList.q = String(new FormData(event.target).get('q') ?? '').trim();
  try {
    showProjects(await projectsPage());
  } catch (error) {
    showError(error);
  }
});
$('#projects-more button').addEventListener('click', async () => {
  try {
    showProjects(await projectsPage(projectList.next), true);
  } catch (error) {
    showError(error);
  }
});
$('#reset').addEventListener('click', () => navigate({ from: '', to: '', project: '', agent: '', model: '', stack: view.stack }));
for (const radio of document.querySelectorAll('input[name=stack]')) radio.addEventListener('change', () => navigate({ ...view, stack: radio.value }));
$('#auth').addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey.set(new FormData(event.target).get('key'));
  event.target.reset();
  load();
});
addEventListener('popstate', () => {
  view = readView();
  load();
});
addEventListener('resize', () => {
  chart?.setSize({ width: Math.max($('#chart').clientWidth, 320), height: 260 });
});

load();
