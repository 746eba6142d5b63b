import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/store/sqlite-connection.js';

const MIB = 1024 * 1024;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('a writing SQLite connection', () => {
  it('cuts the WAL file back to 64 MiB when the WAL starts over after a larger burst, instead of keeping its largest size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokentally-wal-'));
    dirs.push(dir);
    const file = join(dir, 'usage.db');
    const db = openSqlite(file, { synchronous: 'FULL', busyTimeoutMs: 250 });
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE blobs (b BLOB)');
    const insert = db.prepare('INSERT INTO blobs VALUES (?)');
    const block = Buffer.alloc(1024 * 1024, 7);
    db.transaction(() => {
      for (let i = 0; i < 80; i++) insert.run(block);
    })();
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(80 * MIB);
    // Every frame copied: the next write transaction starts the WAL over, and its commit cuts the file.
    db.pragma('wal_checkpoint(PASSIVE)');
    insert.run(Buffer.alloc(10));
    expect(statSync(`${file}-wal`).size).toBeLessThanOrEqual(64 * MIB);
    db.close();
  });
});
