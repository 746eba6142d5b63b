import { ApiError } from '../http/errors.js';
import type { Filters, Store } from '../store/types.js';
import type { Principal } from './keys.js';

/** The project filter a principal may use: what it asked for, checked, or all its projects. */
export function scopeFilters(filters: Filters, principal: Principal): Filters {
  if (principal.projects === null) return filters;
  const asked = filters.project;
  if (!asked) return { ...filters, project: principal.projects };
  const outside = asked.filter((p) => !principal.projects!.includes(p));
  if (outside.length > 0) throw new ApiError(403, 'forbidden', `project: this key may not read ${outside.map((p) => `"${p}"`).join(', ')}`);
  return filters;
}

/**
 * The store as one principal sees it: every read is limited to the key's projects, so no route can
 * forget the check and no grouping or filter can reveal another project.
 */
export function scopedStore(store: Store, principal: Principal): Store {
  if (principal.projects === null) return store;
  return Object.assign(Object.create(store) as Store, {
    aggregate: (q: Parameters<Store['aggregate']>[0]) => store.aggregate({ ...q, filters: scopeFilters(q.filters, principal) }),
    listEvents: (q: Parameters<Store['listEvents']>[0]) => store.listEvents({ ...q, filters: scopeFilters(q.filters, principal) }),
  });
}
