/**
 * The seed-style baseline the issue compares against: one event per request, stored with one
 * autocommit insert on the request's own thread before the answer. Same validation, normalisation,
 * pricing, schema and trigger as the collector; the group commit and the write threads are missing. Usage: node dist/bench/seed-server.js <db file>
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { normalise } from '../src/event/normalise.js';
import { UsageEventInput } from '../src/event/schema.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { SqliteStore } from '../src/store/sqlite.js';

const store = new SqliteStore(process.argv[2]!, { writeThreads: false });
await store.migrate();
const pricer = createPricer(loadPriceTable({}));
const app = new Hono();
app.post('/api/usage', async (c) => {
  const parsed = UsageEventInput.safeParse(await c.req.json());
  if (!parsed.success) return c.json({ error: parsed.error.issues[0]!.message }, 400);
  const record = normalise(parsed.data, Date.now());
  pricer.price(record);
  await store.insertBatch([record]);
  return c.json({ id: record.id }, 201);
});
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => console.log(`seed-style listening on http://127.0.0.1:${info.port}`));
process.on('SIGTERM', () => void store.close().then(() => process.exit(0)));
