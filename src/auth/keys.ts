import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ProjectId } from '../event/schema.js';

export const ROLES = ['ingest', 'read', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKey {
  role: Role;
  /** null: every project. */
  projects: string[] | null;
  hash: Buffer;
}

/** Who made a request: the key's role and project scope, or everything when auth is off. */
export interface Principal {
  role: Role;
  projects: string[] | null;
}

export const OPEN_ACCESS: Principal = { role: 'admin', projects: null };

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

const ENTRY = /^(ingest|read|admin)(?:@([^:]+))?:([0-9a-f]{64})$/i;

/**
 * `API_KEYS`: comma-separated `role[@project+project]:sha256hex` entries. Only hashes are configured,
 * so the configuration never holds a usable key.
 */
export const ApiKeysSetting = z.string().transform((text, ctx): ApiKey[] => {
  const entries = text.split(',').map((e) => e.trim()).filter((e) => e !== '');
  return entries.flatMap((entry, i) => {
    const match = ENTRY.exec(entry);
    // An entry is named by its place, not shown: a wrong one may be a key pasted in place of its hash.
    if (!match) {
      const pasted = entry.includes(':') ? '' : ' (it has no role: if it is a key, give its hash instead, from `tokentally hash-key <key>`)';
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1} is not role[@project+project]:<64 hex digits of SHA-256>, with role ingest, read or admin${pasted}` });
      return [];
    }
    const projects = match[2] === undefined ? null : match[2].split('+').flatMap((project) => {
      // Scoped events are stamped with the key's first project: it must be one an event could name.
      const id = ProjectId.safeParse(project);
      if (id.success) return [id.data];
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1}: project ${JSON.stringify(project)} ${id.error.issues[0]!.message}` });
      return [];
    });
    return [{ role: match[1]!.toLowerCase() as Role, projects, hash: Buffer.from(match[3]!, 'hex') }];
  });
});

/** The key whose hash matches, comparing against every configured hash in constant time. */
export function findKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  const hash = hashKey(presented);
  let found: ApiKey | undefined;
  for (const key of keys) if (timingSafeEqual(key.hash, hash) && !found) found = key;
  return found;
}

const GRANTS: Record<Role, readonly Role[]> = { ingest: ['ingest'], read: ['read'], admin: ['ingest', 'read', 'admin'] };

export function allows(principal: Principal, needed: Role): boolean {
  return GRANTS[principal.role].includes(needed);
}
