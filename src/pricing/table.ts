import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { canonicalProvider } from './match.js';

/** One price as stored in a price file (the built-in one and PRICES_FILE share this schema). */
export interface PriceEntry {
  provider: string;
  model: string;
  aliases: string[];
  /** USD per million tokens. An absent cache price bills those tokens as ordinary input. */
  input: number;
  output: number;
  cache_read?: number;
  cache_write?: number;
  effective_from?: string;
  /** effective_from as epoch ms; −Infinity when the entry has none (it applies to all earlier events). */
  fromMs: number;
  source: string;
  as_of?: string;
  note?: string;
  origin: 'built-in' | 'user';
}

/** Every name (lowercase) of one model of one provider, and its prices ordered by fromMs. */
export interface PriceModel {
  provider: string;
  model: string;
  names: string[];
  prices: PriceEntry[];
}

export interface PriceTable {
  models: PriceModel[];
}

export class PriceFileError extends Error {
  override name = 'PriceFileError';
}

const NUMBER = 'must be a number ≥ 0';
// At most 6 decimals keeps every price an integer number of pico-dollars per token (see cost.ts).
const price = z
  .number({ error: NUMBER })
  .min(0, NUMBER)
  .max(1_000_000, 'must be at most 1000000 (USD per million tokens)')
  .refine((p) => Math.round(p * 1e6) / 1e6 === p, 'must have at most 6 decimal places');
const text = z
  .string({ error: 'must be a non-empty string' })
  .trim()
  .min(1, 'must be a non-empty string')
  .max(256)
  .regex(/^[^\u0000-\u001f]*$/, 'must not contain control characters');

const EntrySchema = z.strictObject({
  provider: text.transform(canonicalProvider),
  model: text,
  aliases: z.array(text).optional(),
  input: price,
  output: price,
  cache_read: price.optional(),
  cache_write: price.optional(),
  effective_from: z
    .union([z.iso.date(), z.iso.datetime({ offset: true })], {
      error: 'must be a date (YYYY-MM-DD, from midnight UTC) or an RFC 3339 date-time with a zone',
    })
    .optional(),
  source: text.optional(),
  as_of: z.iso.date({ error: 'must be a date YYYY-MM-DD' }).optional(),
  note: z.string().optional(),
});

const FileSchema = z.strictObject({
  comment: z.string().optional(),
  prices: z.array(z.unknown(), { error: 'must be an array of price entries' }),
});

// NUL as separator: names cannot contain it (schema above), so "a/b" + "c" and "a" + "b/c" stay distinct.
const modelKey = (provider: string, model: string) => `${provider}\u0000${model.toLowerCase()}`;

/** "entry 3 (openai/gpt-4o)", counted from 1, with whatever provider/model the raw entry carries. */
function label(raw: unknown, index: number): string {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const name = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : '?');
  return `entry ${index + 1} (${name(r.provider)}/${name(r.model)})`;
}

function describeIssues(where: string, issues: z.core.$ZodIssue[]): string {
  return issues.map((i) => `${where} ${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('\n');
}

/**
 * Validates a parsed price file; throws one PriceFileError listing every problem, each naming its entry:
 * a wrong field, a repeated provider + model + effective_from, or a name two models of one provider claim.
 */
export function parsePriceFile(data: unknown, where: string, origin: PriceEntry['origin']): PriceEntry[] {
  const file = FileSchema.safeParse(data);
  if (!file.success) throw new PriceFileError(describeIssues(`${where}:`, file.error.issues));
  const errors: string[] = [];
  const entries: PriceEntry[] = [];
  const keys = new Map<string, number>();
  const names = new Map<string, { key: string; index: number }>();
  file.data.prices.forEach((raw, index) => {
    const at = `${where}: ${label(raw, index)}`;
    const r = EntrySchema.safeParse(raw);
    if (!r.success) return void errors.push(describeIssues(`${at}:`, r.error.issues));
    const { aliases = [], source = 'PRICES_FILE', ...rest } = r.data;
    const fromMs = rest.effective_from ? Date.parse(rest.effective_from) : -Infinity;
    const entry: PriceEntry = { ...rest, aliases, source, origin, fromMs };
    const key = modelKey(entry.provider, entry.model);
    const same = keys.get(`${key}@${entry.fromMs}`);
    if (same !== undefined) {
      errors.push(`${at}: same provider, model and effective_from as ${label(file.data.prices[same], same)}`);
    }
    keys.set(`${key}@${entry.fromMs}`, index);
    for (const name of [entry.model, ...aliases]) {
      const taken = names.get(modelKey(entry.provider, name));
      if (taken && taken.key !== key) {
        errors.push(`${at}: name "${name}" is already used by ${label(file.data.prices[taken.index], taken.index)}`);
      } else names.set(modelKey(entry.provider, name), { key, index });
    }
    entries.push(entry);
  });
  if (errors.length) throw new PriceFileError(errors.join('\n'));
  return entries;
}

/**
 * Layers user prices over built-in ones, per model: built-in prices apply until the model's first user price
 * takes effect, user prices from then on. So a user entry with the same provider, model and effective_from
 * replaces the built-in one, a dated user entry changes the price from that date without rewriting history,
 * and an undated one replaces the model's built-in prices altogether. A name both define goes to the user's model.
 */
export function mergeTables(builtIn: PriceEntry[], user: PriceEntry[]): PriceTable {
  const owners = new Map<string, { key: string; name: string }>();
  const byModel = new Map<string, { builtIn: PriceEntry[]; user: PriceEntry[] }>();
  for (const e of [...builtIn, ...user]) {
    const key = modelKey(e.provider, e.model);
    for (const name of [e.model, ...e.aliases]) {
      owners.set(modelKey(e.provider, name), { key, name: name.toLowerCase() });
    }
    const slot = byModel.get(key) ?? { builtIn: [], user: [] };
    (e.origin === 'user' ? slot.user : slot.builtIn).push(e);
    byModel.set(key, slot);
  }
  const namesOf = new Map<string, string[]>();
  for (const { key, name } of owners.values()) namesOf.set(key, [...(namesOf.get(key) ?? []), name]);
  const models: PriceModel[] = [];
  for (const [key, slot] of byModel) {
    const firstUser = Math.min(...slot.user.map((e) => e.fromMs));
    const prices = [...slot.builtIn.filter((e) => e.fromMs < firstUser), ...slot.user];
    prices.sort((a, b) => a.fromMs - b.fromMs);
    const { provider, model } = prices[prices.length - 1]!;
    models.push({ provider, model, names: namesOf.get(key) ?? [], prices });
  }
  models.sort((a, b) => a.provider.localeCompare(b.provider) || a.model.localeCompare(b.model));
  return { models };
}

function readUserFile(path: string, where: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PriceFileError(`${where}: cannot read the file: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new PriceFileError(`${where}: not valid JSON: ${(err as Error).message}`);
  }
}

/** The built-in table, with the user's price file (PRICES_FILE) merged over it. Throws PriceFileError. */
export function loadPriceTable(options: { userFile?: string } = {}): PriceTable {
  // Read as data at start-up (not imported), so it is the same file in src/ and in the built package.
  const builtInFile: unknown = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'src', 'pricing', 'prices.json'), 'utf8'));
  const builtIn = parsePriceFile(builtInFile, 'built-in price table', 'built-in');
  if (!options.userFile) return mergeTables(builtIn, []);
  const where = `PRICES_FILE (${options.userFile})`;
  return mergeTables(builtIn, parsePriceFile(readUserFile(options.userFile, where), where, 'user'));
}
