import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { databaseName } from '../../src/database-url.js';
import { shownUrl } from '../../src/redact.js';
import { openFailure } from '../../src/store/open-failure.js';
import { scratchDir } from '../support/scratch-dirs.js';

describe('a URL as messages show it', () => {
  it.each([
    ['postgres://tokentally:s3cret@db:5432/usage', 'postgres://tokentally@db:5432/usage'],
    ['postgresql://db/usage?user=u&password=s3cret&sslmode=require', 'postgresql://db/usage?user=u&password=…&sslmode=require'],
    ['postgres://u@db/usage?sslpassword=s3cret', 'postgres://u@db/usage?sslpassword=…'],
    ['postgres://db/usage?%70assword=s3cret', 'postgres://db/usage?%70assword=…'],
    // Passwords not percent-encoded, which the URL parser reads as a port and a fragment or a path.
    ['postgres://u:12#s3cret@db/usage', 'postgres://u@db/usage'],
    ['postgres://u:1234/s3cret@db/usage', 'postgres://u@db/usage'],
    // Mistyped: a scheme misspelt, a slash or the scheme missing, a stray space.
    ['postgress://u:s3cret@db/usage', 'postgress://…@db/usage'],
    ['postgres:/u:s3cret@db/usage', 'postgres:/u@db/usage'],
    ['u:s3cret@db:5432/usage', 'u:…@db:5432/usage'],
    ['http//u:s3cret@collector', '…@collector'],
    [' postgres://u:s3cret@db/usage', ' postgres://u@db/usage'],
    // Another scheme's user may be a token.
    ['https://ghp_s3cret@collector:4318/v1?token=s3cret;sig=s3cret#access_token=s3cret', 'https://…@collector:4318/v1?token=…;sig=…#access_token=…'],
    // A @ in the query costs the host, never the password.
    ['postgres://u:s3cret@db/usage?application_name=me@laptop', 'postgres://u@laptop'],
    ['/data/tokentally.db', '/data/tokentally.db'],
    ['/home/ann@example.com/tokentally.db', '/home/ann@example.com/tokentally.db'],
    ['https://collector:4318/v1/traces?tenant=a', 'https://collector:4318/v1/traces?tenant=a'],
  ])('%s → %s', (url, shown) => {
    expect(shownUrl(url)).toBe(shown);
  });

  it('names a SQLite file by its path, without the file: prefix', () => {
    expect(databaseName('file:/data/tokentally.db')).toBe('/data/tokentally.db');
  });
});

describe('why a database cannot be opened', () => {
  it('gives the messages of every address a connection was tried on, when the driver gives none of its own', () => {
    const refused = Object.assign(new AggregateError([new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')], ''), { code: 'ECONNREFUSED' });
    const failure = openFailure('postgres://u:s3cret@localhost:5432/usage', refused);
    expect(failure.message).toBe('cannot open the database postgres://u@localhost:5432/usage (DATABASE_URL): connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432; nothing accepts connections at that address: is PostgreSQL running and listening there?');
    expect(failure.cause).toBe(refused);
  });

  it('still explains the error when its folder cannot be looked into', () => {
    const file = join(scratchDir('tokentally-open-'), 'plain');
    writeFileSync(file, '');
    // Every look at <file>/db/usage.db fails (ENOTDIR), as one into a folder this process may not enter.
    const url = join(file, 'db', 'usage.db');
    const cantOpen = Object.assign(new Error('unable to open database file'), { code: 'SQLITE_CANTOPEN' });
    expect(openFailure(url, cantOpen).message).toMatch(new RegExp(`^cannot open the database ${url} \\(DATABASE_URL\\): unable to open database file \\(SQLITE_CANTOPEN\\); its folder ${join(file, 'db')} cannot be read or written by this process`));
  });

  it('takes what is thrown even when it is not an Error', () => {
    expect(openFailure('/data/usage.db', 'gone').message).toBe('cannot open the database /data/usage.db (DATABASE_URL): gone');
  });
});
