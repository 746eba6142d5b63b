import { describe, expect, it } from 'vitest';
import { WireNames } from '../../collector/otlp/wire-names.js';

/** Keys recognised from their bytes (wire-names.ts), each placed inside a larger buffer as a body holds it. */
describe('attribute keys told apart as bytes', () => {
  const names = new WireNames(new Map([['gen_ai.usage.input_tokens', 1], ['gen_ai.system', 2], ['é.model', 4]]), 'tokentally.tag.', 8);

  function flagsOf(key: string): { flags: number; name: string } {
    const bytes = Buffer.from(key, 'utf8');
    const buf = Buffer.concat([Buffer.from('\x0a\x19prefix'), bytes, Buffer.from('suffix')]);
    names.name = '';
    const flags = names.flags(buf, 8, 8 + bytes.length);
    return { flags, name: names.name };
  }

  it('finds a known name, and gives the table\'s own string for it', () => {
    expect(flagsOf('gen_ai.usage.input_tokens')).toEqual({ flags: 1, name: 'gen_ai.usage.input_tokens' });
    expect(flagsOf('gen_ai.system')).toEqual({ flags: 2, name: 'gen_ai.system' });
    expect(flagsOf('é.model')).toEqual({ flags: 4, name: 'é.model' });
  });

  it('does not take a key for a name whose sampled bytes and length it shares', () => {
    // Byte 1 is not among those sampled: only the comparison of every byte tells the two apart.
    expect(flagsOf('gXn_ai.usage.input_tokens')).toEqual({ flags: 0, name: '' });
    expect(flagsOf('gen_ai.usage.input_tokenz')).toEqual({ flags: 0, name: '' });
    expect(flagsOf('gen_ai.usage.input_token')).toEqual({ flags: 0, name: '' });
    expect(flagsOf('e.model')).toEqual({ flags: 0, name: '' });
  });

  it('decodes a key with the prefix, and no other', () => {
    expect(flagsOf('tokentally.tag.team')).toEqual({ flags: 8, name: 'tokentally.tag.team' });
    expect(flagsOf('tokentally.tag.')).toEqual({ flags: 8, name: 'tokentally.tag.' });
    expect(flagsOf('tokentally.tag.✓')).toEqual({ flags: 8, name: 'tokentally.tag.✓' });
    expect(flagsOf('tokentally.tagx')).toEqual({ flags: 0, name: '' });
    expect(flagsOf('tokentally.ta')).toEqual({ flags: 0, name: '' });
    expect(flagsOf('')).toEqual({ flags: 0, name: '' });
  });
});
