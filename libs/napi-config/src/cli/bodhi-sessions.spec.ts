import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  serverEnv,
  sessionFixture,
  tempHome,
  TestSessionDb,
  type TempHome,
} from '@bodhi/testing';
import { recordSessionDevice, sessionKey } from '@bodhi/services';
import { Logger } from '@nestjs/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runBodhiSessions } from './bodhi-sessions.js';

interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs the command line in-process, with only `env` as its environment. */
async function run(argv: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  let out = '';
  let err = '';
  const code = await runBodhiSessions(argv, {
    env,
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
  });
  return { code, out, err };
}

const USAGE_LINE = 'Usage: bodhi-sessions <command> [options]';

/** Live and expired sessions, with and without a user: [id, userId, expires in ms]. */
const SEEDED: [string, string | null, number][] = [
  ['a1', 'alice', 60_000],
  ['a2', 'alice', 60_000],
  ['b1', 'bob', 60_000],
  ['n1', null, 60_000],
  ['old-a', 'alice', -60_000],
  ['old-n', null, -60_000],
];
const LIVE_IDS = ['a1', 'a2', 'b1', 'n1'];
/** What the table and the CLI show for the sessions `ids`: their keys (hashes), sorted. */
const keys = (...ids: string[]) => ids.map(sessionKey).sort();
const lines = (items: string[]) => items.map((item) => `${item}\n`).join('');

describe.each(SESSION_BACKENDS)('bodhi-sessions on %s', (kind) => {
  let db: TestSessionDb;
  let home: TempHome;

  beforeAll(async () => {
    // Quiet the seeding store's "ready" line; every CLI run sets its own logger anyway.
    Logger.overrideLogger(false);
    db = await createTestSessionDb(kind);
    home = tempHome('bodhi-sessions-cli-');
  });
  afterAll(async () => {
    await db?.drop();
    home?.remove();
  });

  /** Fills the table afresh through the store (its own DataSource, closed afterwards). */
  beforeEach(async () => {
    const { store, dataSource } = await openTestStore(db);
    try {
      await store.clearSessions();
      for (const companion of ['user_revocations', 'revocation_queue']) {
        await db.query(`DELETE FROM ${db.besideTable(companion)}`);
      }
      for (const [id, userId, inMs] of SEEDED) {
        await store.saveSession(id, sessionFixture(inMs, userId ? { user_id: userId } : {}));
      }
    } finally {
      await dataSource.destroy();
    }
  });

  const target = (table = db.table) => [
    '--url',
    db.url,
    '--table',
    table,
    ...(db.schema ? ['--schema', db.schema] : []),
  ];
  /** The command line against this suite's table; succeeds with nothing on stderr. */
  const cli = async (...argv: string[]) => {
    const result = await run([...argv, ...target()], { BODHI_HOME: home.dir });
    expect(result).toMatchObject({ code: 0, err: '' });
    return result.out;
  };
  const rowIds = async () =>
    (await db.query<{ id: string }>(`SELECT id FROM ${db.qualifiedTable} ORDER BY id`)).map(
      (r) => r.id,
    );

  it('migrate creates the table and reports it up to date, again and again', async () => {
    const table = 'fresh_sessions';
    const name = db.schema ? `${db.schema}.${table}` : table;
    const qualified = db.schema ? `"${db.schema}"."${table}"` : `"${table}"`;
    for (let i = 0; i < 2; i++) {
      const { code, out, err } = await run(['migrate', ...target(table)]);
      expect({ code, out, err }).toEqual({
        code: 0,
        out: `session table ${name} is up to date (${kind})\n`,
        err: '',
      });
    }
    expect(await db.query(`SELECT id, data, expires_at, user_id FROM ${qualified}`)).toEqual([]);
    const json = await run(['migrate', '--json', ...target(table)]);
    expect(JSON.parse(json.out)).toEqual(
      kind === 'postgres'
        ? { table, backend: 'postgres', schema: db.schema }
        : { table, backend: 'sqlite' },
    );
  });

  it('count: live sessions of everyone or of one user', async () => {
    expect(await cli('count')).toBe('4\n');
    expect(await cli('count', '--user', 'alice')).toBe('2\n');
    expect(await cli('count', '--user', 'nobody')).toBe('0\n');
    expect(await cli('count', '--json')).toBe('{"count":4}\n');
    expect(await cli('count', '--user=bob', '--json')).toBe('{"count":1}\n');
  });

  it('keys: keys of the live sessions (never their ids), one per line', async () => {
    expect(await cli('keys')).toBe(lines(keys(...LIVE_IDS)));
    expect(await cli('keys', '--user', 'alice')).toBe(lines(keys('a1', 'a2')));
    expect(await cli('keys', '--user', 'nobody')).toBe('');
    expect(JSON.parse(await cli('keys', '--json'))).toEqual(keys(...LIVE_IDS));
    expect(JSON.parse(await cli('keys', '--json', '--user', 'alice'))).toEqual(keys('a1', 'a2'));
  });

  it('ids, the former name of keys, still works and says so on stderr', async () => {
    const result = await run(['ids', '--user', 'alice', ...target()], { BODHI_HOME: home.dir });
    expect(result).toEqual({
      code: 0,
      out: lines(keys('a1', 'a2')),
      err: 'bodhi-sessions: "ids" is deprecated; use "keys"\n',
    });
  });

  it('dump: key and user (or -) of each live session', async () => {
    const users: Record<string, string | null> = { a1: 'alice', a2: 'alice', b1: 'bob', n1: null };
    const rows = Object.entries(users)
      .map(([id, user]) => [sessionKey(id), user] as const)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    expect(await cli('dump')).toBe(lines(rows.map(([key, user]) => `${key}\t${user ?? '-'}`)));
    expect(JSON.parse(await cli('dump', '--json'))).toEqual(rows);
  });

  describe('list', () => {
    const FIREFOX =
      'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
    const at = (time: string) => Date.parse(`2099-01-01T${time}Z`);
    /** Two sessions of carol's on two devices, their times pinned so the output is exact. */
    beforeEach(async () => {
      const { store, dataSource } = await openTestStore(db);
      try {
        const devices = [
          ['c-old', FIREFOX, '203.0.113.77', '10:00:00'],
          ['c-new', 'curl/8.5.0', undefined, '11:00:00'],
        ] as const;
        for (const [sid, userAgent, clientAddress] of devices) {
          const session = sessionFixture(60_000, { user_id: 'carol' });
          recordSessionDevice(session, { userAgent, clientAddress }, 'truncated');
          await store.saveSession(sid, session);
        }
        for (const [sid, , , created] of devices) {
          await db.query(
            `UPDATE ${db.qualifiedTable} SET created_at = $1, last_seen_at = $2, expires_at = $3 WHERE id = $4`,
            [at(created), at('11:30:00'), at('14:00:00'), sessionKey(sid)],
          );
        }
      } finally {
        await dataSource.destroy();
      }
    });

    it("prints a user's live sessions, newest first, as a table", async () => {
      const out = await cli('list', '--user', 'carol');
      const [heading, ...rows] = out.trimEnd().split('\n');
      expect(heading.split(/\s{2,}/)).toEqual([
        'HANDLE',
        'CREATED',
        'LAST SEEN',
        'EXPIRES',
        'MAX EXPIRES',
        'ADDRESS',
        'BROWSER',
        'OS',
        'USER AGENT',
      ]);
      expect(rows.map((row) => row.split(/\s{2,}/))).toEqual([
        [
          sessionKey('c-new'),
          '2099-01-01T11:00:00Z',
          '2099-01-01T11:30:00Z',
          '2099-01-01T14:00:00Z',
          '2099-01-01T23:00:00Z',
          '-',
          '-',
          '-',
          'curl/8.5.0',
        ],
        [
          sessionKey('c-old'),
          '2099-01-01T10:00:00Z',
          '2099-01-01T11:30:00Z',
          '2099-01-01T14:00:00Z',
          '2099-01-01T22:00:00Z',
          '203.0.113.0/24',
          'Firefox 133',
          'Ubuntu',
          FIREFOX,
        ],
      ]);
      // Columns line up: every row's fields start where the heading's do.
      const starts = (line: string) => [...line.matchAll(/(?<=^|\s{2})\S/g)].map((m) => m.index);
      for (const row of rows) expect(starts(row)).toEqual(starts(heading));
      expect(await cli('list', '--user', 'nobody')).toBe('');
    });

    it('--json: the fields of the sessions API, one array', async () => {
      expect(JSON.parse(await cli('list', '--user', 'carol', '--json'))).toEqual([
        {
          id: sessionKey('c-new'),
          created_at: '2099-01-01T11:00:00Z',
          last_seen_at: '2099-01-01T11:30:00Z',
          expires_at: '2099-01-01T14:00:00Z',
          max_expires_at: '2099-01-01T23:00:00Z',
          ip: null,
          user_agent: 'curl/8.5.0',
          browser: null,
          os: null,
        },
        {
          id: sessionKey('c-old'),
          created_at: '2099-01-01T10:00:00Z',
          last_seen_at: '2099-01-01T11:30:00Z',
          expires_at: '2099-01-01T14:00:00Z',
          max_expires_at: '2099-01-01T22:00:00Z',
          ip: '203.0.113.0/24',
          user_agent: FIREFOX,
          browser: 'Firefox 133',
          os: 'Ubuntu',
        },
      ]);
      expect(await cli('list', '--user', 'nobody', '--json')).toBe('[]\n');
      // The expired and the other users' sessions are not carol's live ones.
      expect(JSON.parse(await cli('list', '--user', 'alice', '--json'))).toHaveLength(2);
    });

    it("max expires follows the server's BODHI_SESSION_MAX_LIFETIME_SECONDS", async () => {
      const env = serverEnv({
        home: home.dir,
        db,
        env: { BODHI_SESSION_MAX_LIFETIME_SECONDS: '3600' },
      });
      const { code, out, err } = await run(['list', '--user', 'carol', '--json'], env);
      expect({ code, err }).toEqual({ code: 0, err: '' });
      expect(JSON.parse(out).map((s: { max_expires_at: string }) => s.max_expires_at)).toEqual([
        '2099-01-01T12:00:00Z',
        '2099-01-01T11:00:00Z',
      ]);
    });
  });

  it("clear-user removes the user's sessions and prints how many were live", async () => {
    expect(await cli('clear-user', 'alice')).toBe('2\n');
    expect(await rowIds()).toEqual(keys('b1', 'n1', 'old-n'));
    expect(await cli('clear-user', 'alice', '--json')).toBe('{"removed":0}\n');
    expect(await cli('clear-user', '--json', 'bob')).toBe('{"removed":1}\n');
    expect(await rowIds()).toEqual(keys('n1', 'old-n'));
    // Logged out everywhere means every token issued to them so far is revoked too.
    const revoked = await db.query<{ user_id: string }>(
      `SELECT user_id FROM ${db.besideTable('user_revocations')} ORDER BY user_id`,
    );
    expect(revoked.map((r) => r.user_id)).toEqual(['alice', 'bob']);
    // Their grants at the provider are left to a running server, queued for it to send.
    const queued = await db.query<{ kind: string; subject: string }>(
      `SELECT kind, subject FROM ${db.besideTable('revocation_queue')} ORDER BY subject`,
    );
    expect(queued).toEqual([
      { kind: 'user_grants', subject: 'alice' },
      { kind: 'user_grants', subject: 'alice' },
      { kind: 'user_grants', subject: 'bob' },
    ]);
  });

  it('clear-all refuses without --yes and deletes nothing', async () => {
    for (const extra of [[], ['--json']]) {
      const refused = await run(['clear-all', ...extra, ...target()], { BODHI_HOME: home.dir });
      expect(refused.code).toBe(2);
      expect(refused.out).toBe('');
      expect(refused.err).toContain('add --yes');
      expect(refused.err).not.toContain(USAGE_LINE);
    }
    expect(await rowIds()).toHaveLength(SEEDED.length);
  });

  it('clear-all --yes removes every row, expired ones included, and revokes their users', async () => {
    const before = Date.now();
    expect(await cli('clear-all', '--yes')).toBe(`${SEEDED.length}\n`);
    expect(await rowIds()).toEqual([]);
    const revoked = await db.query<{ user_id: string; not_before: string }>(
      `SELECT user_id, not_before FROM ${db.besideTable('user_revocations')} ORDER BY user_id`,
    );
    expect(revoked.map((r) => r.user_id)).toEqual(['alice', 'bob']);
    for (const r of revoked) expect(Number(r.not_before)).toBeGreaterThanOrEqual(before);
    expect(await cli('clear-all', '--yes', '--json')).toBe('{"removed":0}\n');
  });

  it('prune removes only the expired rows', async () => {
    expect(await cli('prune')).toBe('2\n');
    expect(await rowIds()).toEqual(keys(...LIVE_IDS));
    expect(await cli('prune', '--json')).toBe('{"removed":0}\n');
    expect(await cli('count')).toBe('4\n');
  });

  it('reads the store settings from the environment, flags overriding them', async () => {
    // A server's environment for this suite's table.
    const env = serverEnv({
      home: home.dir,
      db,
      // Not a store setting: an admin command is not held up by it.
      env: { BODHI_PORT: 'not-a-port' },
    });
    expect(await run(['count'], env)).toEqual({ code: 0, out: '4\n', err: '' });
    const other = await run(['count', '--table', 'other_sessions'], env);
    expect(other).toEqual({ code: 0, out: '0\n', err: '' });
  });
});

describe('bodhi-sessions usage and errors', () => {
  let home: TempHome;
  beforeAll(() => {
    home = tempHome('bodhi-sessions-cli-');
  });
  afterAll(() => home.remove());

  it('prints the usage on --help / -h (exit 0) and without a command (exit 2)', async () => {
    for (const argv of [['--help'], ['-h'], ['count', '--help']]) {
      const { code, out, err } = await run(argv);
      expect({ code, err }).toEqual({ code: 0, err: '' });
      expect(out).toContain(USAGE_LINE);
      expect(out).toContain('clear-user <userId>');
    }
    const none = await run([]);
    expect(none).toMatchObject({ code: 2, out: '' });
    expect(none.err).toMatch(/^bodhi-sessions: no command given\n\nUsage: bodhi-sessions/);
  });

  it.each([
    [['frob'], 'unknown command "frob"'],
    [['count', '--bogus'], 'unknown option --bogus'],
    [['clear-user'], 'clear-user needs <userId>'],
    [['count', '--user'], 'option --user needs a value'],
    [['dump', 'extra'], 'unexpected argument "extra" for dump'],
  ])('%j: bad usage, exit 2 with the usage', async (argv, message) => {
    const { code, out, err } = await run(argv, { BODHI_HOME: home.dir });
    expect({ code, out }).toEqual({ code: 2, out: '' });
    expect(err).toContain(`bodhi-sessions: ${message}\n`);
    expect(err).toContain(USAGE_LINE);
  });

  it('an unknown URL scheme stops with one line naming BODHI_SESSION_DB_URL, password hidden', async () => {
    const flag = await run(['count', '--url', 'mysql://u:hunter22@h/db'], { BODHI_HOME: home.dir });
    expect(flag).toEqual({
      code: 1,
      out: '',
      err:
        'bodhi-sessions: Invalid configuration: BODHI_SESSION_DB_URL (given as --url) must start ' +
        'with "sqlite:", "postgres://" or "postgresql://" (got "mysql://u:***@h/db")\n',
    });
    const env = await run(['count'], {
      BODHI_HOME: home.dir,
      BODHI_SESSION_DB_URL: 'mysql://u:hunter22@h/db',
    });
    expect(env.code).toBe(1);
    expect(env.err).toMatch(/^bodhi-sessions: Invalid configuration: BODHI_SESSION_DB_URL must/);
    expect(env.err).not.toContain('hunter22');
  });

  it('a bad table or schema name stops with one line naming the setting', async () => {
    const table = await run(['count', '--table', 'x; drop table y'], { BODHI_HOME: home.dir });
    expect(table.code).toBe(1);
    expect(table.err).toMatch(/^bodhi-sessions: Invalid configuration: BODHI_SESSION_DB_TABLE /);
    expect(table.err.split('\n')).toHaveLength(2);
    const schema = await run(['count'], { BODHI_HOME: home.dir, BODHI_SESSION_DB_SCHEMA: '1abc' });
    expect(schema.code).toBe(1);
    expect(schema.err).toMatch(/Invalid configuration: BODHI_SESSION_DB_SCHEMA must be/);
  });

  it('an unreachable PostgreSQL stops with one line naming host and db, no password, no stack', async () => {
    const { code, out, err } = await run(
      ['count', '--url', 'postgres://u:hunter22@127.0.0.1:1/x', '--json'],
      { BODHI_HOME: home.dir },
    );
    expect({ code, out }).toEqual({ code: 1, out: '' });
    expect(err).toMatch(
      /^bodhi-sessions: Cannot open session database \(PostgreSQL 127\.0\.0\.1:1\/x\): .+\n$/,
    );
    expect(err).not.toContain('hunter22');
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('--verbose logs to stderr and leaves stdout to the result', async () => {
    const url = `sqlite:${path.join(home.dir, 'verbose.sqlite')}`;
    expect(await run(['migrate', '--url', url])).toMatchObject({ code: 0, err: '' });
    const { code, out, err } = await run(['count', '--json', '--verbose', '--url', url]);
    expect({ code, out }).toEqual({ code: 0, out: '{"count":0}\n' });
    expect(err).toContain('Session store ready');
  });

  describe.each([
    ['count'],
    ['keys'],
    ['list', '--user', 'alice'],
    ['dump', '--json'],
    ['clear-user', 'alice'],
    ['clear-all', '--yes'],
    ['prune'],
  ])('%s on a SQLite file that does not exist', (command, ...rest) => {
    const argv = [command, ...rest];
    // A typo in --url or BODHI_HOME: nothing to report on, and nothing may be created.
    const expectRefused = async (result: CliRun, file: string) => {
      expect(result).toEqual({
        code: 1,
        out: '',
        err:
          `bodhi-sessions: no session database at ${file} (SQLite file not found; ` +
          '"bodhi-sessions migrate" creates one)\n',
      });
      expect(fs.existsSync(path.dirname(file))).toBe(false);
    };

    it('given as --url: refuses with exit 1 naming the file, and creates nothing', async () => {
      const file = path.join(home.dir, `typo-${command}`, 'session.sqlite');
      await expectRefused(await run([...argv, '--url', `sqlite:${file}`]), file);
    });

    it('under BODHI_HOME: refuses with exit 1 naming the file, and creates nothing', async () => {
      const typo = path.join(home.dir, `no-such-home-${command}`);
      await expectRefused(await run(argv, { BODHI_HOME: typo }), path.join(typo, 'session.sqlite'));
    });
  });

  it('an in-memory SQLite database is not a missing file', async () => {
    expect(await run(['count', '--url', 'sqlite::memory:'])).toEqual({
      code: 0,
      out: '0\n',
      err: '',
    });
  });

  it('migrate creates a missing SQLite file, and its directory, which the others then use', async () => {
    const newHome = path.join(home.dir, 'new', 'home');
    expect(await run(['migrate'], { BODHI_HOME: newHome })).toEqual({
      code: 0,
      out: 'session table bodhi_sessions is up to date (sqlite)\n',
      err: '',
    });
    expect(fs.existsSync(path.join(newHome, 'session.sqlite'))).toBe(true);
    expect(await run(['count'], { BODHI_HOME: newHome })).toEqual({ code: 0, out: '0\n', err: '' });
  });

  it('uses sqlite:$BODHI_HOME/session.sqlite by default', async () => {
    expect(await run(['migrate'], { BODHI_HOME: home.dir })).toEqual({
      code: 0,
      out: 'session table bodhi_sessions is up to date (sqlite)\n',
      err: '',
    });
    expect(fs.existsSync(path.join(home.dir, 'session.sqlite'))).toBe(true);
  });
});
