/**
 * Real PostgreSQL for the tests. As a vitest globalSetup it starts one throwaway cluster for the
 * whole run and stops it after; each test service then gets a database of its own (createDatabase).
 * The server is the system's PostgreSQL, or the one npm installed with the dev dependencies
 * (bench/pg-cluster.ts). TOKENTALLY_TEST_POSTGRES=0 skips the PostgreSQL tests.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { TestProject } from 'vitest/node';
import { startCluster } from '../../bench/pg-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: { url: string } | { error: string } | { optedOut: true };
  }
}

export const POSTGRES_OPTED_OUT = process.env.TOKENTALLY_TEST_POSTGRES === '0';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  if (POSTGRES_OPTED_OUT) return project.provide('postgres', { optedOut: true });
  try {
    const cluster = await startCluster({ durable: false });
    console.log(`PostgreSQL tests run on ${cluster.server}`);
    project.provide('postgres', { url: cluster.url });
    return () => cluster.stop();
  } catch (error) {
    project.provide('postgres', {
      error: `PostgreSQL tests could not start a server (TOKENTALLY_TEST_POSTGRES=0 skips them): ${(error as Error).message}`,
    });
  }
}

function adminUrl(): string {
  const provided = inject('postgres');
  if ('url' in provided) return provided.url;
  throw new Error('error' in provided ? provided.error : 'PostgreSQL tests were turned off (TOKENTALLY_TEST_POSTGRES=0)');
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Runs one statement as superuser on the cluster's `postgres` database (CREATE/ALTER/DROP DATABASE). */
export async function runAdmin(sql: string, params: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/**
 * A pool for a test's own SQL. Its end() resolves before its connections have closed, so a database
 * dropped (WITH FORCE) or a server stopped right after can still terminate one; the pool reports
 * that as an 'error' event, which unheard would fail the whole run.
 */
export function sqlPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on('error', () => {});
  return pool;
}

/** A fresh, empty database on the test cluster. */
export async function createDatabase(): Promise<TestDatabase> {
  const name = `tokentally_${randomBytes(6).toString('hex')}`;
  await runAdmin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => runAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
