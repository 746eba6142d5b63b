import Database from 'better-sqlite3';
import pg from 'pg';
import { numbered } from '../../src/store/postgres-queries.js';

/**
 * One statement straight on a test service's database (`?` placeholders on both backends), for
 * what no API shows or sets: a row's bookkeeping columns. Returns the rows it selects or returns.
 */
export async function runSql(databaseUrl: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (await client.query(numbered(sql), params)).rows;
    } finally {
      await client.end();
    }
  }
  const db = new Database(databaseUrl);
  try {
    const statement = db.prepare(sql);
    if (statement.reader) return statement.all(params) as Record<string, unknown>[];
    statement.run(params);
    return [];
  } finally {
    db.close();
  }
}
