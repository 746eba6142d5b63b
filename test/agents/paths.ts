import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, whether this runs as source (test/agents/) or compiled (test/agents/dist/). */
const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, existsSync(join(HERE, '..', '..', 'collector', 'otlp', 'proto')) ? '../..' : '../../..');

export const FIXTURES_DIR = join(REPO_ROOT, 'test', 'fixtures', 'agents');
