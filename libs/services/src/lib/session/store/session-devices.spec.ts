import type { SessionData } from 'express-session';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  openTestStore,
  SESSION_BACKENDS,
  TEST_ENCRYPTION_KEY,
  tamperEncrypted,
  testSessionOptions,
  TestSessionDb,
} from '@bodhi/testing';
import { parseEncryptionKeys, SessionCipher } from '../crypto/session-cipher.js';
import { recordSessionDevice } from './session-device.js';
import { sessionKey } from './session-key.js';
import { LISTED_SESSIONS_LIMIT } from '../sql/session-sql.js';
import { SessionLock } from '../locks/session-lock.js';
import { SessionRevocations } from '../../revocation/session-revocations.js';
import { resolveSessionOptions } from '../config/session.options.js';
import { DefaultSessionService } from '../session.service.js';
import { SessionStoreBackend } from './session-store.backend.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const TTL = 10 * MINUTE;
const MAX_LIFETIME = 60 * MINUTE;
const TOUCH_AFTER = MINUTE;

const FIREFOX_LINUX =
  'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

interface DeviceRow {
  created_at: string | number | null;
  last_seen_at: string | number | null;
  expires_at: string | number;
  user_agent: string | null;
  client_address: string | null;
}

/**
 * A user's sessions on their devices: what a save records, the list, ending one by its
 * handle and ending all the others — on a store whose clock the test moves.
 */
describe.each(SESSION_BACKENDS)('sessions on every device, on %s', (kind) => {
  let db: TestSessionDb;
  let dataSource: DataSource;
  let revocations: SessionRevocations;
  let clock: number;
  let store: SessionStoreBackend;
  let service: DefaultSessionService;
  const newStore = (cipher?: SessionCipher) =>
    new SessionStoreBackend(dataSource, {
      ref: { kind, table: db.table, schema: db.schema },
      ttlMs: TTL,
      maxLifetimeMs: MAX_LIFETIME,
      loginTtlMs: TTL,
      touchAfterMs: TOUCH_AFTER,
      maxDataBytes: 65_536,
      cipher,
      now: () => clock,
    });
  const serviceOver = (over: SessionStoreBackend) =>
    new DefaultSessionService(
      over,
      resolveSessionOptions(testSessionOptions(db)),
      new SessionLock({ dataSource, kind }),
      revocations,
    );

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    ({ dataSource, revocations } = await openTestStore(db));
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    clock = Date.now();
    store = newStore();
    service = serviceOver(store);
    await store.clearSessions();
  });

  /** A session as express-session hands it over at the fake now: its cookie slid to now + TTL. */
  const session = (extra: Record<string, unknown> = {}) =>
    ({
      cookie: { originalMaxAge: TTL, expires: new Date(clock + TTL), httpOnly: true, path: '/' },
      ...extra,
    }) as SessionData;
  /** A logged-in session of `userId` on a device, saved at the fake now. */
  const login = async (sid: string, userId: string, userAgent = FIREFOX_LINUX, on = store) => {
    const s = session({ user_id: userId, refresh_token: `rt-${sid}` });
    recordSessionDevice(s, { userAgent, clientAddress: '203.0.113.77' }, 'truncated');
    await on.saveSession(sid, s);
  };
  const row = async (sid: string) =>
    (
      await db.query<DeviceRow>(
        `SELECT created_at, last_seen_at, expires_at, user_agent, client_address ` +
          `FROM ${db.qualifiedTable} WHERE id = $1`,
        [sessionKey(sid)],
      )
    )[0];
  const num = (v: string | number | null) => (v === null ? null : Number(v));
  const handles = async (userId: string) =>
    (await service.listUserSessions(userId)).map((s) => s.handle);

  it('a save writes the device and the times in columns of their own; the list names browser and OS', async () => {
    const at = clock;
    await login('s1', 'alice');
    const written = await row('s1');
    expect({
      ...written,
      created_at: num(written.created_at),
      last_seen_at: num(written.last_seen_at),
      expires_at: num(written.expires_at),
    }).toEqual({
      created_at: at,
      last_seen_at: at,
      expires_at: at + TTL,
      user_agent: FIREFOX_LINUX,
      client_address: '203.0.113.0/24',
    });
    expect(await service.listUserSessions('alice')).toEqual([
      {
        handle: sessionKey('s1'),
        createdAt: at,
        lastSeenAt: at,
        expiresAt: at + TTL,
        maxExpiresAt: at + MAX_LIFETIME,
        userAgent: FIREFOX_LINUX,
        clientAddress: '203.0.113.0/24',
        browser: 'Firefox 133',
        os: 'Ubuntu',
      },
    ]);
  });

  it('keeps the address as configured, bounds the user agent, and leaves the columns empty without a device', async () => {
    const whole = session({ user_id: 'u' });
    recordSessionDevice(
      whole,
      { userAgent: 'x'.repeat(2000), clientAddress: '::ffff:198.51.100.9' },
      'full',
    );
    await store.saveSession('whole', whole);
    const none = session({ user_id: 'u' });
    recordSessionDevice(none, { userAgent: SAFARI_IPHONE, clientAddress: '198.51.100.9' }, 'none');
    await store.saveSession('none', none);
    await store.saveSession('bare', session({ user_id: 'u' }));
    expect(await row('whole')).toMatchObject({
      user_agent: 'x'.repeat(512),
      client_address: '198.51.100.9',
    });
    expect(await row('none')).toMatchObject({ user_agent: SAFARI_IPHONE, client_address: null });
    expect(await row('bare')).toMatchObject({ user_agent: null, client_address: null });
  });

  it('last seen moves only with the expiry: not on a touch within touch-after, on one past it and on a save', async () => {
    const at = clock;
    await login('s1', 'alice');
    // A request soon after: the read writes nothing, so last seen stays.
    clock += TOUCH_AFTER - SECOND;
    let loaded = (await store.findSession('s1')) as SessionData;
    loaded.cookie.expires = new Date(clock + TTL);
    expect(await store.touchSession('s1', loaded)).toBe(true);
    expect(num((await row('s1')).last_seen_at)).toBe(at);
    expect(num((await row('s1')).expires_at)).toBe(at + TTL);
    // Past the throttle, the same UPDATE moves both.
    clock += 2 * SECOND;
    loaded = (await store.findSession('s1')) as SessionData;
    loaded.cookie.expires = new Date(clock + TTL);
    expect(await store.touchSession('s1', loaded)).toBe(true);
    expect(num((await row('s1')).last_seen_at)).toBe(clock);
    expect(num((await row('s1')).expires_at)).toBe(clock + TTL);
    // A save of changed data moves it too, and keeps the device.
    clock += SECOND;
    loaded.cookie.expires = new Date(clock + TTL);
    (loaded as SessionData & { more?: number }).more = 1;
    expect(await store.saveSession('s1', loaded)).toBe(true);
    expect(await row('s1')).toMatchObject({
      user_agent: FIREFOX_LINUX,
      client_address: '203.0.113.0/24',
    });
    expect(num((await row('s1')).last_seen_at)).toBe(clock);
    expect(num((await row('s1')).created_at)).toBe(at);
  });

  it("lists a user's live sessions newest first, without expired ones or other users'", async () => {
    await login('old', 'alice');
    clock += SECOND;
    await login('short', 'alice');
    // This one idles out: its expiry is pinned to now + 5 s.
    await db.query(`UPDATE ${db.qualifiedTable} SET expires_at = $1 WHERE id = $2`, [
      clock + 5 * SECOND,
      sessionKey('short'),
    ]);
    clock += SECOND;
    await login('new', 'alice', SAFARI_IPHONE);
    await login('bob-1', 'bob');
    // A row from before creation times were kept: listed last, on both backends alike.
    await db.query(
      `INSERT INTO ${db.qualifiedTable} (id, data, expires_at, user_id) VALUES ($1, $2, $3, $4)`,
      [sessionKey('ancient'), JSON.stringify(session({ user_id: 'alice' })), clock + TTL, 'alice'],
    );
    expect(await handles('alice')).toEqual([
      sessionKey('new'),
      sessionKey('short'),
      sessionKey('old'),
      sessionKey('ancient'),
    ]);
    clock += 5 * SECOND;
    const listed = await service.listUserSessions('alice');
    expect(listed.map((s) => s.handle)).toEqual([
      sessionKey('new'),
      sessionKey('old'),
      sessionKey('ancient'),
    ]);
    expect(listed[0]).toMatchObject({ browser: 'Mobile Safari 17', os: 'iOS 17.5' });
    expect(listed[2]).toMatchObject({
      createdAt: null,
      lastSeenAt: null,
      maxExpiresAt: null,
      userAgent: null,
      clientAddress: null,
      browser: null,
      os: null,
    });
    expect(await handles('nobody')).toEqual([]);
  });

  it(`lists at most the newest ${LISTED_SESSIONS_LIMIT} of a user's sessions (each listed one costs a user-agent parse)`, async () => {
    for (let i = 0; i <= LISTED_SESSIONS_LIMIT; i++) {
      clock += 1;
      await login(`many-${i}`, 'carol', `Agent/${i}`);
    }
    const listed = await handles('carol');
    expect(listed).toHaveLength(LISTED_SESSIONS_LIMIT);
    expect(listed[0]).toBe(sessionKey(`many-${LISTED_SESSIONS_LIMIT}`));
    expect(listed).not.toContain(sessionKey('many-0'));
  });

  it('a user id with NUL lists and ends nothing, alike on both backends (PostgreSQL text refuses NUL)', async () => {
    await login('nul-victim', 'dave');
    expect(await service.listUserSessions('dave\0')).toEqual([]);
    expect(await service.endUserSession('dave\0', sessionKey('nul-victim'))).toBeUndefined();
    expect(await service.endOtherUserSessions('dave\0')).toEqual([]);
    expect(await handles('dave')).toEqual([sessionKey('nul-victim')]);
  });

  it('a handle is the hash of the session id, never the id: the id itself ends nothing', async () => {
    await login('s1', 'alice');
    const [listed] = await service.listUserSessions('alice');
    expect(listed.handle).toBe(sessionKey('s1'));
    expect(listed.handle).not.toContain('s1');
    expect(await service.endUserSession('alice', 's1')).toBeUndefined();
    expect(await store.findSession('s1')).not.toBeNull();
  });

  it("ends a user's own session by its handle and returns its data; another user's handle ends nothing", async () => {
    await login('a1', 'alice');
    await login('a2', 'alice');
    await login('b1', 'bob');
    expect(await service.endUserSession('bob', sessionKey('a1'))).toBeUndefined();
    expect(await service.endUserSession('alice', sessionKey('b1'))).toBeUndefined();
    expect(await service.endUserSession('alice', 'not-a-handle')).toBeUndefined();
    expect(await handles('alice')).toHaveLength(2);

    const ended = await service.endUserSession('alice', sessionKey('a1'));
    expect(ended).toMatchObject({ user_id: 'alice', refresh_token: 'rt-a1' });
    expect(await store.findSession('a1')).toBeNull();
    expect(await row('a1')).toBeUndefined();
    // Once: it is gone.
    expect(await service.endUserSession('alice', sessionKey('a1'))).toBeUndefined();
    expect(await handles('alice')).toEqual([sessionKey('a2')]);
    expect(await handles('bob')).toEqual([sessionKey('b1')]);
  });

  it('ending a session waits for a refresh holding its lock, and returns the tokens that refresh saved', async () => {
    await login('busy', 'alice');
    let release!: () => void;
    let held!: () => void;
    const lockHeld = new Promise<void>((resolve) => (held = resolve));
    // A refresh on another instance: holds the session's lock, rotates the tokens, saves.
    const refresh = service.withSessionLock('busy', async () => {
      held();
      await new Promise<void>((resolve) => (release = resolve));
      const current = (await store.findSession('busy')) as SessionData;
      await store.updateSession('busy', { ...current, refresh_token: 'rt-rotated' } as SessionData);
    });
    await lockHeld;
    let settled = false;
    const ending = service.endUserSession('alice', sessionKey('busy')).finally(() => {
      settled = true;
    });
    // The lock is taken by the refresh: the end waits (checked before and after a round trip).
    await store.findSession('busy');
    expect(settled).toBe(false);
    release();
    await refresh;
    expect(await ending).toMatchObject({ refresh_token: 'rt-rotated' });
    expect(await row('busy')).toBeUndefined();
  });

  it('an expired session is not ended by its handle (it is no longer listed; the pruner removes it)', async () => {
    await login('a1', 'alice');
    clock += TTL;
    expect(await service.endUserSession('alice', sessionKey('a1'))).toBeUndefined();
  });

  it('ending the other sessions keeps exactly the current one, and returns the data of those ended', async () => {
    for (const sid of ['a1', 'a2', 'a3']) {
      await login(sid, 'alice');
      clock += SECOND;
    }
    await login('b1', 'bob');
    const ended = await service.endOtherUserSessions('alice', 'a2');
    expect(ended.map((s) => (s as { refresh_token?: string }).refresh_token).sort()).toEqual([
      'rt-a1',
      'rt-a3',
    ]);
    expect(await handles('alice')).toEqual([sessionKey('a2')]);
    expect(await store.findSession('a2')).toMatchObject({ user_id: 'alice' });
    expect(await handles('bob')).toEqual([sessionKey('b1')]);
    // Nothing else to end.
    expect(await service.endOtherUserSessions('alice', 'a2')).toEqual([]);
    // Without a session to keep: all of them.
    expect(await service.endOtherUserSessions('alice')).toMatchObject([{ refresh_token: 'rt-a2' }]);
    expect(await handles('alice')).toEqual([]);
    expect(await handles('bob')).toEqual([sessionKey('b1')]);
  });

  it('encrypted rows: what is ended comes back decrypted; an undecryptable row is ended and returns nothing', async () => {
    const cipher = new SessionCipher(parseEncryptionKeys([TEST_ENCRYPTION_KEY]));
    const encrypted = newStore(cipher);
    const over = serviceOver(encrypted);
    await login('good', 'alice', FIREFOX_LINUX, encrypted);
    await login('bad', 'alice', FIREFOX_LINUX, encrypted);
    await login('bad-2', 'alice', FIREFOX_LINUX, encrypted);
    for (const sid of ['bad', 'bad-2']) {
      const [{ data }] = await db.query<{ data: string }>(
        `SELECT data FROM ${db.qualifiedTable} WHERE id = $1`,
        [sessionKey(sid)],
      );
      await db.query(`UPDATE ${db.qualifiedTable} SET data = $1 WHERE id = $2`, [
        tamperEncrypted(data),
        sessionKey(sid),
      ]);
    }
    // Listing reads the columns only: an unreadable session is still listed (and can be ended).
    expect(await over.listUserSessions('alice')).toHaveLength(3);
    expect(await over.endUserSession('alice', sessionKey('bad'))).toBeUndefined();
    expect(await row('bad')).toBeUndefined();
    expect(await over.endOtherUserSessions('alice')).toMatchObject([{ refresh_token: 'rt-good' }]);
    expect(await over.listUserSessions('alice')).toEqual([]);
  });
});
