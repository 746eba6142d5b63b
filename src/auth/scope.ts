import { ApiError } from '../http/errors.js';
import type { Filters, Store } from '../store/types.js';
import type { Principal } from './keys.js';

/** 403 naming the projects outside the principal's scope; `verb` says what it tried. */
export function requireProjects(principal: Principal, ids: readonly string[], verb = 'read'): void {
  if (principal.projects === null) return;
  const outside = ids.filter((p) => !principal.projects!.includes(p));
  if (outside.length > 0) throw new ApiError(403, 'forbidden', `project: this key may not ${verb} ${outside.map((p) => `"${p}"`).join(', ')}`);
}

/** The project filter a principal may use: what it asked for, checked, or all its projects. */
export function scopeFilters(filters: Filters, principal: Principal): Filters {
  if (principal.projects === null) return filters;
  if (!filters.project) return { ...filters, project: principal.projects };
  requireProjects(principal, filters.project);
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
    listProjects: (q: Parameters<Store['listProjects']>[0]) =>
      store.listProjects({ ...q, ids: (q.ids ?? principal.projects!).filter((id) => principal.projects!.includes(id)) }),
    getProject: async (id: string) => (principal.projects!.includes(id) ? store.getProject(id) : null),
  });
}
