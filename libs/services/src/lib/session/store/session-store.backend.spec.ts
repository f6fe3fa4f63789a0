import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { SessionData } from 'express-session';
import { inspect } from 'node:util';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  sessionFixture,
  TestSessionDb,
} from '@bodhi/testing';
import { SessionStoreBackend } from './session-store.backend.js';
import { sessionKey } from './session-key.js';
import { InvalidSessionInputError, SessionStoreUnavailableError } from '../session.errors.js';

const HOUR = 3_600_000;
const expiryOf = (s: SessionData) => new Date(s.cookie.expires as Date).getTime();

/**
 * The process Node reports errors on. A test file's `process` is Jest's copy, whose
 * listeners never fire; a function of Node's own realm (util.inspect's Function) reaches
 * the real one.
 */
const hostProcess = (inspect.constructor as FunctionConstructor)(
  'return process',
)() as NodeJS.EventEmitter;

type ProcessError = 'uncaughtException' | 'unhandledRejection';

/**
 * Runs `run` and resolves with the first uncaught exception or unhandled rejection that
 * follows, setting Jest's own handlers (which would fail the test on either) aside meanwhile.
 */
async function firstProcessError(run: () => void): Promise<[ProcessError, unknown]> {
  const events: ProcessError[] = ['uncaughtException', 'unhandledRejection'];
  const jestListeners = events.map((e) => [e, hostProcess.listeners(e)] as const);
  for (const e of events) hostProcess.removeAllListeners(e);
  try {
    return await new Promise((resolve) => {
      for (const e of events) hostProcess.once(e, (error: unknown) => resolve([e, error]));
      run();
    });
  } finally {
    for (const [e, listeners] of jestListeners) {
      hostProcess.removeAllListeners(e);
      for (const l of listeners) hostProcess.on(e, l as (...args: unknown[]) => void);
    }
  }
}

describe.each(SESSION_BACKENDS)('SessionStoreBackend on %s', (kind) => {
  let db: TestSessionDb;
  let dataSource: DataSource;
  let store: SessionStoreBackend;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    ({ dataSource, store } = await openTestStore(db, { ttlSeconds: 600 }));
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });
  beforeEach(() => store.clearSessions());

  // Rows are keyed by the hash of the session id.
  const row = async (id: string) =>
    (
      await db.query<{ data: string; expires_at: string | number; user_id: string | null }>(
        `SELECT data, expires_at, user_id FROM ${db.qualifiedTable} WHERE id = $1`,
        [sessionKey(id)],
      )
    )[0];
  /** The keys of these session ids, in the order the store lists keys. */
  const keys = (...ids: string[]) => ids.map(sessionKey).sort();
  const rowCount = async () =>
    Number((await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${db.qualifiedTable}`))[0].n);

  it('saves a session with user_id and loads it back', async () => {
    const s = sessionFixture(HOUR, { user_id: 'user-1', access_token: 'a'.repeat(900) });
    await store.saveSession('sid-1', s);
    const loaded = await store.findSession('sid-1');
    expect(loaded).toEqual(JSON.parse(JSON.stringify(s)));
    const r = await row('sid-1');
    expect(r.user_id).toBe('user-1');
    expect(Number(r.expires_at)).toBe(expiryOf(s));
  });

  it('saves a session without user_id as NULL', async () => {
    await store.saveSession('anon', sessionFixture(HOUR, { oauth_state: 'x' }));
    expect((await row('anon')).user_id).toBeNull();
    expect(await store.findSession('anon')).toMatchObject({ oauth_state: 'x' });
  });

  it('ignores a user_id that is not a string', async () => {
    await store.saveSession('odd', sessionFixture(HOUR, { user_id: 42 }));
    expect((await row('odd')).user_id).toBeNull();
  });

  it('upserts: a second save replaces data, expiry and user_id in the one row', async () => {
    await store.saveSession('sid', sessionFixture(HOUR, { step: 1 }));
    const later = sessionFixture(2 * HOUR, { step: 2, user_id: 'u2' });
    await store.saveSession('sid', later);
    expect(await rowCount()).toBe(1);
    const r = await row('sid');
    expect(JSON.parse(r.data).step).toBe(2);
    expect(r.user_id).toBe('u2');
    expect(Number(r.expires_at)).toBe(expiryOf(later));
  });

  it('a session loaded from the store and destroyed meanwhile is not re-created by its save', async () => {
    await store.saveSession('loaded', sessionFixture(HOUR, { user_id: 'u', n: 1 }));
    const loaded = await new Promise<SessionData>((resolve, reject) =>
      store.load('loaded', (err, s) =>
        err || !s ? reject(err ?? new Error('missing')) : resolve(s),
      ),
    );
    (loaded as unknown as { n: number }).n = 2;
    expect(await store.saveSession('loaded', loaded)).toBe(true);
    expect(JSON.parse((await row('loaded')).data).n).toBe(2);
    await store.destroySession('loaded');
    expect(await store.saveSession('loaded', loaded)).toBe(false);
    expect(await row('loaded')).toBeUndefined();
    // A new session (not loaded) is created by its first save.
    expect(await store.saveSession('brand-new', sessionFixture(HOUR))).toBe(true);
    expect(await row('brand-new')).toBeDefined();
  });

  it('takes expiry from the TTL when the cookie has none', async () => {
    const before = Date.now();
    await store.saveSession('no-expiry', {
      cookie: { originalMaxAge: null },
    } as unknown as SessionData);
    const expires = Number((await row('no-expiry')).expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 600_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  it('does not load an expired session, though its row is still there', async () => {
    await store.saveSession('old', sessionFixture(-1000, { user_id: 'u' }));
    expect(await store.findSession('old')).toBeNull();
    expect(await row('old')).toBeDefined();
  });

  it('keys rows by a hash of the session id: no session id is stored anywhere in the table', async () => {
    // Session ids as express-session makes them (24 random bytes, base64url), and odd ones.
    const sids = [
      'Xq3vJ0aZ9mVn2Lr8TpQwEyUi-_kO7sB1',
      'hWq1n8Rz4Kd0YbC6pLs2Mv9Tj3Xe5Gu-',
      'short',
      'ユーザー',
    ];
    for (const [i, sid] of sids.entries()) {
      await store.saveSession(sid, sessionFixture(HOUR, { user_id: `owner-${i}`, n: i }));
    }
    for (const sid of sids) {
      expect(sessionKey(sid)).not.toBe(sid);
      expect(sessionKey(sid)).toMatch(/^[0-9a-f]{64}$/);
      expect(await store.findSession(sid)).not.toBeNull();
    }
    const table = JSON.stringify(await db.query(`SELECT * FROM ${db.qualifiedTable}`));
    for (const sid of sids) expect(table).not.toContain(sid);
    const listed = JSON.stringify([
      await store.keys(),
      await store.dump(),
      await store.allSessions(),
    ]);
    for (const sid of sids) expect(listed).not.toContain(sid);
  });

  it('returns null for an unknown id', async () => {
    expect(await store.findSession('nope')).toBeNull();
  });

  it('touch moves the expiry only', async () => {
    await store.saveSession('t', sessionFixture(60_000, { user_id: 'u', n: 1 }));
    const { data } = await row('t');
    const extended = sessionFixture(2 * HOUR, { user_id: 'other', n: 99 });
    expect(await store.touchSession('t', extended)).toBe(true);
    const r = await row('t');
    expect(Number(r.expires_at)).toBe(expiryOf(extended));
    expect(r.data).toBe(data);
    expect(r.user_id).toBe('u');
  });

  it('reads cookie.expires from the row, so a session read after touch has its new expiry', async () => {
    await store.saveSession('tx', sessionFixture(HOUR, { user_id: 'u' }));
    await store.saveSession('browser-cookie', {
      cookie: { originalMaxAge: null },
    } as unknown as SessionData);
    const extended = sessionFixture(2 * HOUR, { user_id: 'u' });
    expect(await store.touchSession('tx', extended)).toBe(true);
    // As a JSON-parsed session has it, an ISO string; express-session makes it a Date.
    const expires = (extended.cookie.expires as Date).toISOString();
    expect((await store.findSession('tx'))?.cookie.expires).toBe(expires);
    const all = await store.allSessions();
    expect(all[sessionKey('tx')].cookie.expires).toBe(expires);
    const loaded = await new Promise<SessionData>((resolve, reject) =>
      store.load('tx', (err, s) => (err || !s ? reject(err ?? new Error('missing')) : resolve(s))),
    );
    expect(loaded.cookie.expires).toEqual(extended.cookie.expires);
    // A cookie without an expiry stays a browser-session cookie.
    expect((await store.findSession('browser-cookie'))?.cookie.expires).toBeUndefined();
    expect(all[sessionKey('browser-cookie')].cookie.expires).toBeUndefined();
  });

  it('touch skips writes that would move a loaded session by less than touchAfter (60 s here)', async () => {
    await store.saveSession('ta', sessionFixture(HOUR, { user_id: 'u' }));
    const stored = Number((await row('ta')).expires_at);
    const loaded = (await store.findSession('ta')) as SessionData;
    const moveTo = (ms: number) => {
      loaded.cookie.expires = new Date(ms);
      return store.touchSession('ta', loaded);
    };
    expect(await moveTo(stored + 30_000)).toBe(true);
    expect(Number((await row('ta')).expires_at)).toBe(stored);
    expect(await moveTo(stored + 90_000)).toBe(true);
    expect(Number((await row('ta')).expires_at)).toBe(stored + 90_000);
    // Measured from what was last written, not from when it was loaded.
    expect(await moveTo(stored + 120_000)).toBe(true);
    expect(Number((await row('ta')).expires_at)).toBe(stored + 90_000);
    // Never moved backwards by a skip: an earlier expiry is written.
    expect(await moveTo(stored)).toBe(true);
    expect(Number((await row('ta')).expires_at)).toBe(stored);
  });

  it('touch writes every time with touchAfterMs 0, and for sessions not read from the store', async () => {
    const eager = new SessionStoreBackend(dataSource, {
      ref: { kind, table: db.table, schema: db.schema },
      ttlMs: HOUR,
      maxLifetimeMs: 12 * HOUR,
      loginTtlMs: HOUR,
      maxDataBytes: 65_536,
    });
    await eager.saveSession('e', sessionFixture(HOUR, { user_id: 'u' }));
    const stored = Number((await row('e')).expires_at);
    const loaded = (await eager.findSession('e')) as SessionData;
    loaded.cookie.expires = new Date(stored + 1);
    expect(await eager.touchSession('e', loaded)).toBe(true);
    expect(Number((await row('e')).expires_at)).toBe(stored + 1);
    // The skipping store, given a session it did not read: written.
    const fresh = sessionFixture(HOUR + 1000, { user_id: 'u' });
    expect(await store.touchSession('e', fresh)).toBe(true);
    expect(Number((await row('e')).expires_at)).toBe(expiryOf(fresh));
  });

  it('touch does not revive an expired session', async () => {
    await store.saveSession('dead', sessionFixture(-1000));
    expect(await store.touchSession('dead', sessionFixture(HOUR))).toBe(false);
    expect(await store.findSession('dead')).toBeNull();
  });

  it('destroy removes the row', async () => {
    await store.saveSession('d', sessionFixture(HOUR));
    expect(await store.destroySession('d')).toBe(true);
    expect(await row('d')).toBeUndefined();
    expect(await store.destroySession('d')).toBe(false);
  });

  it('all, length and keys see live sessions only; clear removes every row', async () => {
    await store.saveSession('b-live', sessionFixture(HOUR, { user_id: 'u1' }));
    await store.saveSession('a-live', sessionFixture(HOUR));
    await store.saveSession('expired', sessionFixture(-5000));
    expect(Object.keys(await store.allSessions()).sort()).toEqual(keys('a-live', 'b-live'));
    expect(await store.countSessions()).toBe(2);
    expect(await store.keys()).toEqual(keys('a-live', 'b-live'));
    expect(await store.clearSessions()).toBe(3);
    expect(await rowCount()).toBe(0);
  });

  it('counts, lists and clears one user without touching others', async () => {
    await store.saveSession('alice-1', sessionFixture(HOUR, { user_id: 'alice' }));
    await store.saveSession('alice-2', sessionFixture(HOUR, { user_id: 'alice' }));
    await store.saveSession('alice-old', sessionFixture(-1000, { user_id: 'alice' }));
    await store.saveSession('bob-1', sessionFixture(HOUR, { user_id: 'bob' }));
    await store.saveSession('anon', sessionFixture(HOUR));
    expect(await store.countForUser('alice')).toBe(2);
    expect(await store.sessionKeysForUser('alice')).toEqual(keys('alice-1', 'alice-2'));
    expect(await store.destroyForUser('alice')).toBe(2);
    expect(await store.countForUser('alice')).toBe(0);
    expect(await row('alice-old')).toBeUndefined();
    expect(await store.sessionKeysForUser('bob')).toEqual(keys('bob-1'));
    expect(await store.findSession('anon')).not.toBeNull();
  });

  it('treats ids and user ids with quotes, wildcards, NUL-free unicode literally', async () => {
    const ids = [`it's`, 'a%b', 'a_b', '"q"', 'ユーザー', 'x;DROP TABLE y'];
    for (const id of ids) await store.saveSession(id, sessionFixture(HOUR, { user_id: `${id}-u` }));
    await store.saveSession('ab', sessionFixture(HOUR, { user_id: 'ab-u' }));
    for (const id of ids) {
      expect(await store.findSession(id)).toMatchObject({ user_id: `${id}-u` });
      expect(await store.sessionKeysForUser(`${id}-u`)).toEqual(keys(id));
    }
    expect(await store.destroyForUser('a%b-u')).toBe(1);
    expect(await store.countSessions()).toBe(ids.length);
  });

  it('refuses NUL in ids and user ids with a clear error, writing nothing', async () => {
    await expect(store.saveSession('nul\0id', sessionFixture(HOUR))).rejects.toThrow(
      InvalidSessionInputError,
    );
    await expect(
      store.saveSession('ok-id', sessionFixture(HOUR, { user_id: 'a\0b' })),
    ).rejects.toThrow(/cannot contain NUL/);
    expect(await rowCount()).toBe(0);
    expect(await store.findSession('nul\0id')).toBeNull();
    // NUL inside session data is just JSON-escaped text.
    await store.saveSession('data-nul', sessionFixture(HOUR, { note: 'a\0b' }));
    expect(await store.findSession('data-nul')).toMatchObject({ note: 'a\0b' });
  });

  it('dumps [key, userId|null] of live sessions sorted by key', async () => {
    await store.saveSession('s2', sessionFixture(HOUR, { user_id: 'u2' }));
    await store.saveSession('s1', sessionFixture(HOUR));
    await store.saveSession('s0', sessionFixture(-1000, { user_id: 'gone' }));
    const expected: [string, string | null][] = [
      [sessionKey('s1'), null],
      [sessionKey('s2'), 'u2'],
    ];
    expect(await store.dump()).toEqual(expected.sort(([a], [b]) => (a < b ? -1 : 1)));
  });

  it('treats a corrupt row as absent, removes it and warns', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const expires = Date.now() + HOUR;
      for (const [id, data] of [
        ['bad-json', '{not json'],
        ['bad-array', '[1,2]'],
        ['bad-null', 'null'],
      ]) {
        await db.query(
          `INSERT INTO ${db.qualifiedTable} (id, data, expires_at) VALUES ($1, $2, $3)`,
          [sessionKey(id), data, expires],
        );
      }
      await store.saveSession('good', sessionFixture(HOUR, { user_id: 'g' }));
      expect(await store.findSession('bad-json')).toBeNull();
      expect(await row('bad-json')).toBeUndefined();
      expect(Object.keys(await store.allSessions())).toEqual([sessionKey('good')]);
      expect(await rowCount()).toBe(1);
      expect(warn).toHaveBeenCalledTimes(3);
      expect(warn.mock.calls.flat().join(' ')).not.toContain('bad-json');
    } finally {
      warn.mockRestore();
    }
  });

  it('serves express-session through callbacks', async () => {
    const s = sessionFixture(HOUR, { user_id: 'cb' });
    await new Promise<void>((resolve, reject) =>
      store.set('cb', s, (e) => (e ? reject(e) : resolve())),
    );
    const got = await new Promise<SessionData | null | undefined>((resolve, reject) =>
      store.get('cb', (e, v) => (e ? reject(e) : resolve(v))),
    );
    expect(got).toMatchObject({ user_id: 'cb' });
    const n = await new Promise<number | undefined>((resolve) =>
      store.length((_e, v) => resolve(v)),
    );
    expect(n).toBe(1);
    await new Promise<void>((resolve) => store.destroy('cb', () => resolve()));
    expect(await store.findSession('cb')).toBeNull();
  });

  type StoreCall = (s: SessionStoreBackend, cb: (...args: unknown[]) => void) => void;
  it.each<[string, StoreCall, unknown[]]>([
    [
      'a session',
      (s, cb) => s.get('cb-live', cb),
      [null, expect.objectContaining({ user_id: 'cb' })],
    ],
    [
      'a store error',
      (s, cb) => s.set('nul\0id', sessionFixture(HOUR), cb),
      [expect.any(InvalidSessionInputError)],
    ],
  ])(
    'calls back with %s once, outside the promise chain: a throwing callback is an uncaught exception',
    async (_what, call, args) => {
      await store.saveSession('cb-live', sessionFixture(HOUR, { user_id: 'cb' }));
      const calls: unknown[][] = [];
      const thrown = new Error('callback failed');
      const [event, error] = await firstProcessError(() =>
        call(store, (...got) => {
          calls.push(got);
          throw thrown;
        }),
      );
      expect([event, error]).toEqual(['uncaughtException', thrown]);
      // Whatever the first call queued has run once a later statement has completed.
      await store.findSession('cb-live');
      expect(calls).toEqual([args]);
    },
  );

  it('reports a failing database as SessionStoreUnavailableError, password-free', async () => {
    const executor = (store as unknown as { statements: { db: Record<string, unknown> } })
      .statements.db;
    const driver =
      kind === 'postgres'
        ? jest
            .spyOn((executor as { pool: { query: () => Promise<unknown> } }).pool, 'query')
            .mockRejectedValueOnce(new Error('connect ECONNREFUSED postgres://u:hunter22@db/x'))
        : jest
            .spyOn(executor as { prepare: () => unknown }, 'prepare')
            .mockImplementationOnce(() => {
              throw new Error('SQLITE_READONLY: attempt to write a readonly database');
            });
    const error = await store.findSession('any').catch((e: unknown) => e);
    driver.mockRestore();
    expect(error).toBeInstanceOf(SessionStoreUnavailableError);
    expect((error as Error).message).toMatch(/^session store unavailable: /);
    expect((error as Error).message).not.toContain('hunter22');
    expect(await store.findSession('any')).toBeNull();
  });

  it('answers ping, and reports a database that does not answer in time', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    // The database stops answering: the driver call never settles.
    const executor = (store as unknown as { statements: { db: { rows: () => Promise<unknown> } } })
      .statements.db;
    const hung = jest.spyOn(executor, 'rows').mockReturnValueOnce(new Promise(() => undefined));
    await expect(store.ping(50)).rejects.toThrow('session store did not answer within 50 ms');
    hung.mockRestore();
  });
});
