import * as fs from 'node:fs';
import * as path from 'node:path';
import { sessionFixture, tempHome, TEST_SECRET } from '@bodhi/testing';
import {
  createSessionDataSource,
  createSessionStore,
} from '../store/session-data-source.factory.js';
import {
  describeSessionDb,
  InvalidSessionDbUrlError,
  parseSessionDbUrl,
} from './session-db-url.util.js';
import { resolveSessionOptions } from './session.options.js';

describe('parseSessionDbUrl', () => {
  it.each([
    ['sqlite:/var/lib/bodhi/s.sqlite', '/var/lib/bodhi/s.sqlite'],
    ['sqlite:///var/lib/bodhi/s.sqlite', '/var/lib/bodhi/s.sqlite'],
    ['sqlite:/var/lib/bodhi/s.sqlite?mode=rwc', '/var/lib/bodhi/s.sqlite'],
    ['sqlite:rel/s.sqlite', path.resolve('rel/s.sqlite')],
    ['sqlite://rel/s.sqlite', path.resolve('rel/s.sqlite')],
    ['sqlite::memory:', ':memory:'],
    ['SQLITE:/x.db', '/x.db'],
    // Percent-escapes decode; a % not followed by two hex digits is a literal %.
    ['sqlite:/srv/my%20dir/s.sqlite', '/srv/my dir/s.sqlite'],
    ['sqlite:/srv/caf%C3%A9/s.sqlite', '/srv/café/s.sqlite'],
    ['sqlite:/srv/100%25/s.sqlite', '/srv/100%/s.sqlite'],
    ['sqlite:data/50%/session.sqlite', path.resolve('data/50%/session.sqlite')],
    ['sqlite:/srv/%zz%4/s%.sqlite', '/srv/%zz%4/s%.sqlite'],
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
    ['sqlite:/srv/%FF/s.sqlite', 'has a percent-escape that is not UTF-8'],
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

describe('a SQLite path with a literal %', () => {
  it('opens a real session file there', async () => {
    const dir = tempHome('bodhi-url-test-');
    try {
      const options = resolveSessionOptions({
        url: `sqlite:${dir.dir}/50%/session.sqlite`,
        secret: TEST_SECRET,
        pruneIntervalSeconds: 0,
      });
      const dataSource = await createSessionDataSource(options);
      try {
        const store = createSessionStore(dataSource, options);
        await store.saveSession('sid', sessionFixture(60_000, { user_id: 'u' }));
        expect(await store.findSession('sid')).toMatchObject({ user_id: 'u' });
      } finally {
        await dataSource.destroy();
      }
      expect(fs.existsSync(path.join(dir.dir, '50%', 'session.sqlite'))).toBe(true);
    } finally {
      dir.remove();
    }
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
