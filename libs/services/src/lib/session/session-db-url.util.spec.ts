import * as path from 'node:path';
import {
  describeSessionDb,
  InvalidSessionDbUrlError,
  parseSessionDbUrl,
} from './session-db-url.util.js';

describe('parseSessionDbUrl', () => {
  it.each([
    ['sqlite:/var/lib/bodhi/s.sqlite', '/var/lib/bodhi/s.sqlite'],
    ['sqlite:///var/lib/bodhi/s.sqlite', '/var/lib/bodhi/s.sqlite'],
    ['sqlite:/var/lib/bodhi/s.sqlite?mode=rwc', '/var/lib/bodhi/s.sqlite'],
    ['sqlite:rel/s.sqlite', path.resolve('rel/s.sqlite')],
    ['sqlite://rel/s.sqlite', path.resolve('rel/s.sqlite')],
    ['sqlite::memory:', ':memory:'],
    ['SQLITE:/x.db', '/x.db'],
  ])('%s is SQLite at %s', (url, database) => {
    expect(parseSessionDbUrl(url)).toEqual({ kind: 'sqlite', database });
  });

  it.each([
    'postgres://u:p@localhost:5432/db',
    'postgresql://u@db.internal/sessions?sslmode=require',
    'postgres:///sessions',
  ])('%s is PostgreSQL', (url) => {
    expect(parseSessionDbUrl(url)).toEqual({ kind: 'postgres', url });
  });

  it.each([
    ['mysql://root:hunter22@db/x', 'must start with'],
    ['redis://:hunter22@cache:6379', 'must start with'],
    ['/just/a/path.sqlite', 'must start with'],
    ['', 'must start with'],
    ['sqlite:', 'names no SQLite file'],
    ['postgres://u:hunter22@/db', 'is not a valid PostgreSQL URL'],
  ])('rejects %j naming the variable and hiding the password', (url, reason) => {
    let error: unknown;
    try {
      parseSessionDbUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidSessionDbUrlError);
    const message = (error as Error).message;
    expect(message).toContain('BODHI_SESSION_DB_URL');
    expect(message).toContain(reason);
    expect(message).not.toContain('hunter22');
  });
});

describe('describeSessionDb', () => {
  it('names host and database, never the password', () => {
    const text = describeSessionDb(
      parseSessionDbUrl('postgres://u:hunter22@db.internal:6543/sessions'),
    );
    expect(text).toBe('PostgreSQL db.internal:6543/sessions');
  });
});
