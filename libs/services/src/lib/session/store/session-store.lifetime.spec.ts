import type { SessionData } from 'express-session';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  TestSessionDb,
} from '@bodhi/testing';
import { SessionStoreBackend } from './session-store.backend.js';
import { sessionKey } from './session-key.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** Small enough to walk through in 2-second steps, in the ratio of the defaults (3 h : 12 h). */
const TTL = 2 * MINUTE;
const MAX_LIFETIME = 8 * MINUTE;
const LOGIN_TTL = 30 * SECOND;

/**
 * The absolute lifetime and the login TTL, on a store whose clock the test moves: what
 * takes hours in production takes fake seconds here, with no waiting.
 */
describe.each(SESSION_BACKENDS)('session lifetime on %s', (kind) => {
  let db: TestSessionDb;
  let dataSource: DataSource;
  let clock: number;
  const stores = (touchAfterMs: number) =>
    new SessionStoreBackend(dataSource, {
      ref: { kind, table: db.table, schema: db.schema },
      ttlMs: TTL,
      maxLifetimeMs: MAX_LIFETIME,
      loginTtlMs: LOGIN_TTL,
      touchAfterMs,
      maxDataBytes: 65_536,
      now: () => clock,
    });
  let store: SessionStoreBackend;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    ({ dataSource } = await openTestStore(db));
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    clock = Date.now();
    store = stores(0);
    await store.clearSessions();
  });

  /** A session as express-session hands it over at the fake now: its cookie slid to now + TTL. */
  const session = (extra: Record<string, unknown> = {}) =>
    ({
      cookie: { originalMaxAge: TTL, expires: new Date(clock + TTL), httpOnly: true, path: '/' },
      ...extra,
    }) as SessionData;
  const row = async (sid: string) =>
    (
      await db.query<{ expires_at: string | number; created_at: string | number | null }>(
        `SELECT expires_at, created_at FROM ${db.qualifiedTable} WHERE id = $1`,
        [sessionKey(sid)],
      )
    )[0];
  /**
   * One request every `stepMs` of fake time, each loading the session and touching it as
   * rolling express-session does, until one finds it gone; returns that instant (or, for a
   * session that never ends, gives up at twice the lifetime).
   */
  const useEvery = async (sid: string, stepMs: number, on = store): Promise<number> => {
    const giveUpAt = clock + 2 * MAX_LIFETIME;
    while (clock < giveUpAt) {
      clock += stepMs;
      const loaded = await on.findSession(sid);
      if (!loaded) return clock;
      loaded.cookie.expires = new Date(clock + TTL);
      await on.touchSession(sid, loaded);
    }
    return Infinity;
  };

  it('a session used every 2 s ends at its creation + the maximum lifetime, not later', async () => {
    const created = clock;
    await store.saveSession('busy', session({ user_id: 'u' }));
    expect(Number((await row('busy')).created_at)).toBe(created);
    expect(await useEvery('busy', 2 * SECOND)).toBe(created + MAX_LIFETIME);
  });

  it('ends at the same instant when touches are throttled (touch-after 60 s)', async () => {
    const throttled = stores(MINUTE);
    const created = clock;
    await throttled.saveSession('busy', session({ user_id: 'u' }));
    expect(await useEvery('busy', 2 * SECOND, throttled)).toBe(created + MAX_LIFETIME);
  });

  it('the idle TTL still ends an idle session first', async () => {
    const created = clock;
    await store.saveSession('idle', session({ user_id: 'u' }));
    clock = created + TTL - 1;
    expect(await store.findSession('idle')).not.toBeNull();
    clock = created + TTL;
    expect(await store.findSession('idle')).toBeNull();
  });

  it('a row from before the upgrade (no creation time) counts its lifetime from its first save after it', async () => {
    // As the previous release wrote it, long ago and kept alive since.
    await db.query(
      `INSERT INTO ${db.qualifiedTable} (id, data, expires_at, user_id) VALUES ($1, $2, $3, $4)`,
      [sessionKey('old'), JSON.stringify(session({ user_id: 'u' })), clock + TTL, 'u'],
    );
    clock += 5 * SECOND;
    const firstSave = clock;
    const loaded = (await store.findSession('old')) as SessionData;
    loaded.cookie.expires = new Date(clock + TTL);
    expect(await store.touchSession('old', loaded)).toBe(true);
    expect(Number((await row('old')).created_at)).toBe(firstSave);
    expect(await useEvery('old', 2 * SECOND)).toBe(firstSave + MAX_LIFETIME);
  });

  it('an unfinished login (no user) expires after the login TTL; a logged-in session after the TTL', async () => {
    const start = clock;
    await store.saveSession('login', session({ oauth_state: 's', pkce_verifier: 'v' }));
    await store.saveSession('user', session({ user_id: 'u' }));
    expect(Number((await row('login')).expires_at)).toBe(start + LOGIN_TTL);
    expect(Number((await row('user')).expires_at)).toBe(start + TTL);
    clock = start + LOGIN_TTL;
    expect(await store.findSession('login')).toBeNull();
    expect(await store.findSession('user')).not.toBeNull();
  });

  it('the login TTL slides with use, and the TTL applies once the session has a user', async () => {
    await store.saveSession('s', session({ oauth_state: 's' }));
    clock += LOGIN_TTL - SECOND;
    const loaded = (await store.findSession('s')) as SessionData;
    loaded.cookie.expires = new Date(clock + TTL);
    await store.touchSession('s', loaded);
    expect(Number((await row('s')).expires_at)).toBe(clock + LOGIN_TTL);
    loaded.user_id = 'u';
    await store.saveSession('s', loaded);
    expect(Number((await row('s')).expires_at)).toBe(clock + TTL);
  });

  it('a new session (the one login regenerates) starts its lifetime at its first save; saving it again keeps that start', async () => {
    const login = clock;
    await store.saveSession('fresh', session({ user_id: 'u' }));
    clock = login + MAX_LIFETIME - SECOND;
    // Not loaded from the store: the upsert path, as a second save in the login request takes.
    await store.saveSession('fresh', session({ user_id: 'u', more: 1 }));
    expect(Number((await row('fresh')).created_at)).toBe(login);
    expect(Number((await row('fresh')).expires_at)).toBe(login + MAX_LIFETIME);
  });

  it('the pruner removes a session past its end like any expired one', async () => {
    await store.saveSession('ended', session({ user_id: 'u' }));
    const end = await useEvery('ended', 30 * SECOND);
    clock = end - 1;
    expect(await store.pruneBatch(100)).toBe(0);
    clock = end;
    expect(await store.pruneBatch(100)).toBe(1);
    expect(await row('ended')).toBeUndefined();
  });
});
