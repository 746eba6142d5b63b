import type { UsageRecord } from '../event/schema.js';
import { RECORD_COLUMNS, type RowForm } from './sqlite-connection.js';

/**
 * Records as they cross to the insert thread. Structured cloning reads and writes every value of a
 * record on its own; here only the strings that are a record's own (TEXTS) cross as values. The
 * numbers, and for each value of a SHARED column its index in the batch's `strings`, are one
 * Float64Array whose buffer moves to the thread, and the values a batch repeats (its project, agent,
 * model, run…) cross once a batch (docs/benchmarks.md, "Insert cost, session 15").
 */
export interface PackedRows {
  /** The shared columns' values, each once. */
  strings: string[];
  /** The same as bound (see `bound`), made on the insert thread. */
  bound?: (string | Buffer)[];
  /** TEXTS.length values a record. */
  texts: (string | null)[];
  /** NUMBERS.length values a record: the shared columns' indexes and the numbers, a null number as NaN. */
  numbers: Float64Array;
}

type Column = (typeof RECORD_COLUMNS)[number];
/** Columns whose values a batch mostly repeats. */
const SHARED = new Set<Column>([
  'project', 'agent_id', 'model', 'provider', 'operation', 'task_label', 'run_id', 'session_id', 'user_id', 'cost_source', 'status',
]);
/** Strings mostly a record's own. */
const TEXTS: readonly Column[] = ['id', 'step_id', 'attributes'];
const NUMBERS = RECORD_COLUMNS.filter((c) => !TEXTS.includes(c));
/** Where each SHARED column's string index sits among a record's numbers. */
const SHARED_AT = [...SHARED].map((c) => NUMBERS.indexOf(c));
/** Numbers that may be null: NaN in `numbers`. */
const NULLABLE: readonly Column[] = ['duration_ms'];

const packRecord = new Function('r', 'code', 'texts', 'numbers', 'at', [
  `texts.push(${TEXTS.map((c) => `r.${c}`).join(', ')});`,
  ...NUMBERS.map((c, k) => `numbers[at + ${k}] = ${SHARED.has(c) ? `code(r.${c})` : NULLABLE.includes(c) ? `r.${c} ?? NaN` : `r.${c}`};`),
].join('\n')) as (r: UsageRecord, code: (s: string) => number, texts: PackedRows['texts'], numbers: Float64Array, at: number) => void;

/** The records of one batch, or of one part of it, as they cross to the insert thread. */
export function packRows(records: readonly UsageRecord[]): PackedRows {
  const codes = new Map<string, number>();
  const strings: string[] = [];
  const code = (s: string): number => {
    let index = codes.get(s);
    if (index === undefined) {
      codes.set(s, (index = strings.length));
      strings.push(s);
    }
    return index;
  };
  const texts: PackedRows['texts'] = [];
  const numbers = new Float64Array(records.length * NUMBERS.length);
  for (let i = 0; i < records.length; i++) packRecord(records[i]!, code, texts, numbers, i * NUMBERS.length);
  return { strings, texts, numbers };
}

/** The parts of a batch sent in several messages as one (on the insert thread). */
export function joinParts(parts: readonly PackedRows[]): PackedRows {
  const joined: PackedRows = { strings: [], texts: [], numbers: new Float64Array(parts.reduce((n, part) => n + part.numbers.length, 0)) };
  let at = 0;
  for (const { strings, texts, numbers } of parts) {
    const offset = joined.strings.length;
    for (const s of strings) joined.strings.push(s);
    for (const t of texts) joined.texts.push(t);
    for (let k = 0; k < numbers.length; k++) joined.numbers[at + k] = numbers[k]!;
    // Each part's indexes are into its own strings.
    for (let k = 0; k < numbers.length; k += NUMBERS.length) for (const n of SHARED_AT) joined.numbers[at + k + n]! += offset;
    at += numbers.length;
  }
  return joined;
}

const orNull = (n: number): number | null => (Number.isNaN(n) ? null : n);
const pushRow = new Function('strings', 'texts', 't', 'numbers', 'n', 'values', 'orNull', `values.push(${RECORD_COLUMNS.map((c) => {
  if (TEXTS.includes(c)) return `texts[t + ${TEXTS.indexOf(c)}]`;
  const number = `numbers[n + ${NUMBERS.indexOf(c)}]`;
  return SHARED.has(c) ? `strings[${number}]` : NULLABLE.includes(c) ? `orNull(${number})` : number;
}).join(', ')});`) as (
  strings: PackedRows['bound'], texts: PackedRows['texts'], t: number, numbers: Float64Array, n: number, values: unknown[], orNull: (n: number) => number | null,
) => void;

const ID = TEXTS.indexOf('id');
const PROJECT = NUMBERS.indexOf('project');

/**
 * A shared value as the insert thread binds it: its UTF-8 bytes, made once a batch, which the
 * statement casts back to the same text; better-sqlite3 converts a string to UTF-8 each time it is
 * bound, once a record (docs/benchmarks.md, "Insert cost, session 15"). A string holding a
 * surrogate is bound as it is, so that one not well formed is stored as before.
 */
const bound = (s: string): string | Buffer => (/[\ud800-\udfff]/.test(s) ? s : Buffer.from(s, 'utf8'));

/** How the inserter reads packed rows (on the insert thread). */
export const PACKED: RowForm<PackedRows> = {
  row: `(${RECORD_COLUMNS.map((c) => (SHARED.has(c) ? 'CAST(? AS TEXT)' : '?')).join(', ')})`,
  count: (packed) => packed.texts.length / TEXTS.length,
  push: (packed, row, values) => pushRow((packed.bound ??= packed.strings.map(bound)), packed.texts, row * TEXTS.length, packed.numbers, row * NUMBERS.length, values, orNull),
  project: (packed, row) => packed.strings[packed.numbers[row * NUMBERS.length + PROJECT]!]!,
  id: (packed, row) => packed.texts[row * TEXTS.length + ID] as string,
};
