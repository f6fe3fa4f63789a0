import express from 'express';
import session from 'express-session';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import {
  createTestSessionDb,
  deferred,
  openTestStore,
  SESSION_BACKENDS,
  TEST_SECRET,
  TestSessionDb,
} from '@bodhi/testing';
import { resolveSessionOptions } from '../config/session.options.js';
import { DefaultSessionService } from '../session.service.js';
import { SessionStoreBackend } from './session-store.backend.js';
import { SessionLock } from '../locks/session-lock.js';
import type { SessionRevocations } from '../../revocation/session-revocations.js';

/** What runs inside `/slow-write` after the session has loaded and before it is changed. */
type BeforeWrite = (req: express.Request) => Promise<void>;

/** Lets `turns` turns of the event loop pass, so concurrent requests interleave. */
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** A plain Express app (no Nest) logging in and out through a given session middleware. */
function loginApp(middleware: express.RequestHandler, beforeWrite?: BeforeWrite) {
  const app = express();
  app.use(middleware);
  app.post('/login/:user', (req, res) => {
    req.session.user_id = req.params.user;
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => res.json({ user: req.session.user_id ?? null }));
  // A long request that writes its session at the end (after a logout may have happened).
  app.post('/slow-write/:turns', async (req, res) => {
    await (beforeWrite ? beforeWrite(req) : turns(Number(req.params.turns)));
    (req.session as unknown as { note: string }).note = `written late`;
    res.json({ ok: true });
  });
  app.post('/logout', (req, res, next) =>
    req.session.destroy((err) =>
      err ? next(err) : res.clearCookie('bodhiapp_session_id').json({ ok: true }),
    ),
  );
  return app;
}

const cookieOf = (res: request.Response) =>
  String(res.headers['set-cookie']?.[0] ?? '').split(';')[0];

describe.each(SESSION_BACKENDS)('drop-in express-session store on %s', (kind) => {
  let db: TestSessionDb;
  let dataSource: DataSource;
  let store: SessionStoreBackend;
  let revocations: SessionRevocations;

  /** Stock express-session over our store. */
  const stockApp = (beforeWrite?: BeforeWrite) =>
    loginApp(
      session({
        store,
        secret: TEST_SECRET,
        resave: false,
        saveUninitialized: false,
        name: 'bodhiapp_session_id',
      }),
      beforeWrite,
    );
  /** The middleware DefaultSessionService builds, with the cookie Secure or not. */
  const serviceApp = (secureCookie = false) =>
    loginApp(
      new DefaultSessionService(
        store,
        resolveSessionOptions({
          url: db.url,
          schema: db.schema,
          tableName: db.table,
          secret: TEST_SECRET,
          secureCookie,
        }),
        new SessionLock({ dataSource, kind }),
        revocations,
      ).sessionMiddleware(),
    );

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    ({ dataSource, store, revocations } = await openTestStore(db));
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('logs in, reuses the cookie, logs out — with stock express-session', async () => {
    const app = stockApp();
    const login = await request(app).post('/login/alice').expect(200);
    const cookie = cookieOf(login);
    expect(cookie).toMatch(/^bodhiapp_session_id=s%3A/);
    expect(await store.sessionKeysForUser('alice')).toHaveLength(1);

    await request(app).get('/me').set('Cookie', cookie).expect(200, { user: 'alice' });
    await request(app).get('/me').expect(200, { user: null });

    await request(app).post('/logout').set('Cookie', cookie).expect(200);
    expect(await store.sessionKeysForUser('alice')).toHaveLength(0);
    await request(app).get('/me').set('Cookie', cookie).expect(200, { user: null });
  });

  it('a logout racing a long in-flight request is not undone by its late save', async () => {
    // The slow request reports whom its session belongs to once loaded, then waits for the
    // logout to finish before it writes: the race happens every run, in this order.
    const loaded = deferred<string | undefined>();
    const loggedOut = deferred();
    const app = stockApp(async (req) => {
      loaded.resolve(req.session.user_id);
      await loggedOut.promise;
    });
    const cookie = cookieOf(await request(app).post('/login/racer').expect(200));
    const slowDone = request(app)
      .post('/slow-write/0')
      .set('Cookie', cookie)
      .then((r) => r);
    expect(await loaded.promise).toBe('racer');
    await request(app).post('/logout').set('Cookie', cookie).expect(200);
    expect(await store.sessionKeysForUser('racer')).toEqual([]);
    loggedOut.resolve();
    expect((await slowDone).status).toBe(200);
    expect(await store.sessionKeysForUser('racer')).toEqual([]);
    await request(app).get('/me').set('Cookie', cookie).expect(200, { user: null });
  });

  it('50 concurrent requests on one session, some writing, never lose the login', async () => {
    const app = stockApp();
    const cookie = cookieOf(await request(app).post('/login/busy').expect(200));
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 3 === 0
          ? request(app)
              .post(`/slow-write/${i % 7}`)
              .set('Cookie', cookie)
          : request(app).get('/me').set('Cookie', cookie),
      ),
    );
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      if (i % 3 !== 0) expect(answer.body).toEqual({ user: 'busy' });
    }
    await request(app).get('/me').set('Cookie', cookie).expect(200, { user: 'busy' });
    expect(await store.sessionKeysForUser('busy')).toHaveLength(1);
  });

  it('sessionMiddleware(): named, HttpOnly, SameSite=Strict cookie; nothing stored for anonymous requests', async () => {
    const app = serviceApp();
    const before = await store.countSessions();
    const anon = await request(app).get('/me').expect(200);
    expect(anon.headers['set-cookie']).toBeUndefined();
    expect(await store.countSessions()).toBe(before);

    const login = await request(app).post('/login/bob').expect(200);
    const raw = String(login.headers['set-cookie']?.[0]);
    expect(raw).toMatch(/^bodhiapp_session_id=s%3A/);
    expect(raw).toMatch(/; HttpOnly/i);
    expect(raw).toMatch(/; SameSite=Strict/i);
    expect(raw).not.toMatch(/; Secure/i);
    await request(app).get('/me').set('Cookie', cookieOf(login)).expect(200, { user: 'bob' });

    // A cookie signed with another secret is not honoured.
    const forged = cookieOf(login).replace(
      /\.[^.]+$/,
      '.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    );
    await request(app).get('/me').set('Cookie', forged).expect(200, { user: null });
  });

  it('sessionMiddleware() over https: the cookie is __Host- prefixed, Secure, for Path=/ without a Domain, and one planted under the plain name is not read', async () => {
    const app = serviceApp(true);
    // Secure cookies go out over https only: here https as a TLS-terminating proxy says.
    const https = { 'X-Forwarded-Proto': 'https' };
    const login = await request(app).post('/login/hana').set(https).expect(200);
    const raw = String(login.headers['set-cookie']?.[0]);
    expect(raw).toMatch(/^__Host-bodhiapp_session_id=s%3A/);
    expect(raw).toMatch(/; Path=\/(;|$)/);
    expect(raw).toMatch(/; Secure/i);
    expect(raw).not.toMatch(/; Domain=/i);
    const cookie = cookieOf(login);
    await request(app).get('/me').set(https).set('Cookie', cookie).expect(200, { user: 'hana' });
    // What a sibling host can set for the parent domain: the same signed id, without the
    // prefix (a browser refuses a __Host- cookie that carries a Domain).
    const planted = cookie.replace(/^__Host-/, '');
    await request(app).get('/me').set(https).set('Cookie', planted).expect(200, { user: null });
  });

  it('sessionMiddleware(): a request slides the stored expiry only once it would move by a minute or more', async () => {
    const app = serviceApp();
    const cookie = cookieOf(await request(app).post('/login/dora').expect(200));
    // The row's key (the hash of the session id), as the store lists it.
    const [key] = await store.sessionKeysForUser('dora');
    const storedExpiry = async () =>
      Number(
        (
          await db.query<{ expires_at: string | number }>(
            `SELECT expires_at FROM ${db.qualifiedTable} WHERE id = $1`,
            [key],
          )
        )[0].expires_at,
      );
    // As if last written a second ago: the rolling cookie moves it by about a second, so
    // the row is read, not written.
    await db.query(`UPDATE ${db.qualifiedTable} SET expires_at = expires_at - 1000 WHERE id = $1`, [
      key,
    ]);
    const atLogin = await storedExpiry();
    await request(app).get('/me').set('Cookie', cookie).expect(200, { user: 'dora' });
    expect(await storedExpiry()).toBe(atLogin);

    // As if last written two minutes ago: this request moves it to now + TTL.
    await db.query(`UPDATE ${db.qualifiedTable} SET expires_at = $1 WHERE id = $2`, [
      atLogin - 120_000,
      key,
    ]);
    const before = Date.now();
    await request(app).get('/me').set('Cookie', cookie).expect(200, { user: 'dora' });
    expect(await storedExpiry()).toBeGreaterThanOrEqual(before + 180 * 60_000);
  });

  it('sessionMiddleware(): a session in use ends at its maximum lifetime (12 h), its cookie with it', async () => {
    const app = serviceApp();
    const cookie = cookieOf(await request(app).post('/login/erin').expect(200));
    const [key] = await store.sessionKeysForUser('erin');
    const stored = async () =>
      (
        await db.query<{ expires_at: string | number; created_at: string | number }>(
          `SELECT expires_at, created_at FROM ${db.qualifiedTable} WHERE id = $1`,
          [key],
        )
      ).map((r) => ({ expiresAt: Number(r.expires_at), createdAt: Number(r.created_at) }))[0];
    // As if logged in 12 hours less a minute ago, and in use ever since.
    const end = Date.now() + 60_000;
    await db.query(`UPDATE ${db.qualifiedTable} SET created_at = $1 WHERE id = $2`, [
      end - 12 * 3_600_000,
      key,
    ]);
    const busy = await request(app).get('/me').set('Cookie', cookie).expect(200, { user: 'erin' });
    // The row and the cookie both end with the session, not three hours (the TTL) from now.
    expect((await stored()).expiresAt).toBe(end);
    const expires = /; Expires=([^;]+)/i.exec(String(busy.headers['set-cookie']?.[0]))?.[1];
    expect(Date.parse(String(expires))).toBeLessThanOrEqual(end);
    expect(Date.parse(String(expires))).toBeGreaterThan(end - 60_000);

    // A minute later, as far as the row can tell: the session is over.
    await db.query(
      `UPDATE ${db.qualifiedTable} SET created_at = created_at - 60000, expires_at = expires_at - 60000 WHERE id = $1`,
      [key],
    );
    await request(app).get('/me').set('Cookie', cookie).expect(200, { user: null });
  });

  it('sessionMiddleware() marks the cookie Secure behind https', async () => {
    const app = serviceApp(true);
    const login = await request(app)
      .post('/login/carol')
      .set('X-Forwarded-Proto', 'https')
      .expect(200);
    expect(String(login.headers['set-cookie']?.[0])).toMatch(/; Secure/i);
  });
});
