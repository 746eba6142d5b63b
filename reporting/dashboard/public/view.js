// What the page shows is described by its URL, so a copied link reproduces the view.

export const FILTERS = ['project', 'agent', 'model'];
const STACKS = ['project', 'model'];
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The view in the address bar: dates (`to` inclusive), dimension filters and the chart's stacking. */
export function readView(search = location.search) {
  const params = new URLSearchParams(search);
  const date = (name) => (DATE.test(params.get(name) ?? '') ? params.get(name) : '');
  const view = { from: date('from'), to: date('to'), stack: STACKS.includes(params.get('stack')) ? params.get('stack') : 'project' };
  for (const name of FILTERS) view[name] = params.get(name) ?? '';
  return view;
}

/** The address of a view, with only what differs from the defaults. */
export function viewUrl(view) {
  const params = new URLSearchParams();
  for (const name of ['from', 'to', ...FILTERS]) if (view[name]) params.set(name, view[name]);
  if (view.stack !== 'project') params.set('stack', view.stack);
  const search = params.toString();
  return search ? `?${search}` : location.pathname;
}

/** The day after a YYYY-MM-DD date: the API's `to` is exclusive, the page's is inclusive. */
export function nextDay(date) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

export function previousDay(iso) {
  const d = new Date(iso);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}

/**
 * The same days of last month as `from`..`asOf` are of this one (today counted whole), never past
 * last month's end. Whole UTC days, so the rollup answers it at any size and under raw retention.
 */
export function sameDaysLastMonth(fromIso, asOfIso) {
  const DAY = 86_400_000;
  const from = Date.parse(fromIso);
  const start = new Date(from);
  start.setUTCMonth(start.getUTCMonth() - 1);
  const days = Math.ceil((Date.parse(asOfIso) - from) / DAY) || 1;
  const end = Math.min(start.getTime() + days * DAY, from);
  return { from: start.toISOString(), to: new Date(end).toISOString() };
}
