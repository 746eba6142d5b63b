import type { EventCursor, EventsQuery, StoredEvent, Store } from '../../src/store/types.js';

/** The ids of every event a list gives, page after page (GET /v1/events as a client walks it). */
export async function idsOfAllPages(store: Pick<Store, 'listEvents'>, query: Omit<EventsQuery, 'after'>): Promise<string[]> {
  const events: StoredEvent[] = [];
  for (let after: EventCursor | null = null, pages = 0; pages === 0 || after; pages++) {
    const page = await store.listEvents({ ...query, after });
    events.push(...page.events);
    after = page.next;
  }
  return events.map((e) => e.id);
}
