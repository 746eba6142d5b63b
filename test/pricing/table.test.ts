import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPriceTable, PriceFileError } from '../../src/pricing/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/pricing/${name}`, import.meta.url));

describe('a malformed price file stops start-up with a message naming the entry', () => {
  it.each<[string, string[]]>([
    ['bad-json.json', ['not valid JSON: ']],
    ['bad-entry.json', ['entry 3 (openai/gpt-4o): input: must be a number ≥ 0', 'entry 3 (openai/gpt-4o): output: must be a number ≥ 0']],
    ['unknown-field.json', ['entry 1 (anthropic/claude-sonnet-4-5): Unrecognized key: "cache_reads"']],
    [
      'too-precise.json',
      [
        'entry 1 (acme/acme-large): input: must have at most 6 decimal places',
        'entry 1 (acme/acme-large): effective_from: must be a date (YYYY-MM-DD, from midnight UTC) or an RFC 3339 date-time with a zone',
      ],
    ],
    ['duplicate.json', ['entry 2 (OpenAI/GPT-4o): same provider, model and effective_from as entry 1 (openai/gpt-4o)']],
    ['alias-conflict.json', ['entry 2 (acme/acme-lite): name "ACME-L" is already used by entry 1 (acme/acme-large)']],
    ['not-a-list.json', ['prices: must be an array of price entries']],
    ['missing.json', ['cannot read the file: ENOENT']],
  ])('%s', (name, expected) => {
    const path = fixture(name);
    let error: unknown;
    try {
      loadPriceTable({ userFile: path });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PriceFileError);
    const lines = (error as Error).message.split('\n');
    expect(lines).toHaveLength(expected.length);
    expected.forEach((text, i) => expect(lines[i]).toContain(`PRICES_FILE (${path}): ${text}`));
  });

  it('names the only wrong entry, not the valid ones around it', () => {
    expect(() => loadPriceTable({ userFile: fixture('bad-entry.json') })).toThrow(
      `PRICES_FILE (${fixture('bad-entry.json')}): entry 3 (openai/gpt-4o): input: must be a number ≥ 0\n`,
    );
  });
});

describe('the built-in table', () => {
  it('loads without a user file', () => {
    const table = loadPriceTable();
    const providers = new Set(table.models.map((m) => m.provider));
    for (const p of ['openai', 'anthropic', 'google', 'mistral', 'deepseek', 'xai', 'groq', 'together']) {
      expect(providers).toContain(p);
    }
  });
});
