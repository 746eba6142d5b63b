import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** The numbered SQL files of one folder, in order; a gap or a repeated number is a packaging error. */
export function readMigrations(dir: string): Migration[] {
  const migrations = readdirSync(dir)
    .flatMap((file) => {
      const match = FILE.exec(file);
      return match ? [{ version: Number(match[1]), name: match[2]!, sql: readFileSync(join(dir, file), 'utf8') }] : [];
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations in ${dir}: expected number ${i + 1}, found ${m.version}_${m.name}`);
  });
  return migrations;
}

/** How a migration is named to people: `0008_ids_per_project`. */
export function migrationName(m: Migration): string {
  return `${String(m.version).padStart(4, '0')}_${m.name}`;
}
