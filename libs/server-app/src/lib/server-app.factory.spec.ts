import type { INestApplication } from '@nestjs/common';
import {
  createTestSessionDb,
  serverEnv,
  SESSION_BACKENDS,
  tempHome,
  TestSessionDb,
  UNREACHABLE_PROVIDER,
  type TempHome,
} from '@bodhi/testing';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import { DefaultSessionService, SessionStoreUnavailableError } from '@bodhi/services';
import { SESSION_DATA_SOURCE } from '@bodhi/services/testing';
import type { Env } from '@bodhi/services';
import { jest } from '@jest/globals';
import signature from 'cookie-signature';
import session from 'express-session';
import * as fs from 'node:fs';
import { createBodhiApp } from './server-app.factory.js';

/** A session cookie value signed with the server's secret, as express-session expects. */
const signedCookie = (sid: string) => encodeURIComponent(`s:${signature.sign(sid, SECRET)}`);
const SECRET = 'server-app-test-secret-0123456789abcdef';

describe.each(SESSION_BACKENDS)('the Bodhi app on %s', (kind) => {
  let db: TestSessionDb;
  let app: INestApplication;
  let home: TempHome;
  let env: Env;

  beforeAll(async () => {
    db = await createTestSessionDb(kind);
    home = tempHome('bodhi-server-app-');
    // These tests do not log in (the e2e does, against the real provider).
    env = serverEnv({ home: home.dir, db, secret: SECRET, provider: UNREACHABLE_PROVIDER });
    app = await createBodhiApp({ logger: false, env });
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    home?.remove();
  });

  const http = () => request(app.getHttpServer());

  it('answers ping, health with the store, and /user logged out without storing a session', async () => {
    await http().get('/bodhi/v1/ping').expect(200, { message: 'pong' });
    const health = await http().get('/bodhi/v1/health').expect(200);
    expect(health.body).toMatchObject({
      status: 'ok',
      info: { session_store: { status: 'up', backend: kind } },
    });
    const user = await http().get('/bodhi/v1/user').expect(200, { auth_status: 'logged_out' });
    expect(user.headers['set-cookie']).toBeUndefined();
    expect(await db.query(`SELECT id FROM ${db.qualifiedTable}`)).toEqual([]);
  });

  it('serves the three UI pages and redirects / to home', async () => {
    for (const page of ['/ui/login', '/ui/home', '/ui/auth/callback']) {
      const res = await http().get(page).expect(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.headers['cache-control']).toBe('no-store');
    }
    await http().get('/').expect(302).expect('location', '/ui/home');
  });

  it('answers errors in the one JSON shape', async () => {
    const missing = await http().get('/bodhi/v1/nowhere').expect(404);
    expect(missing.body).toEqual({
      error: { message: expect.any(String), type: 'not_found_error', code: expect.any(String) },
    });
    const noLogin = await http()
      .post('/bodhi/v1/auth/callback')
      .send({ code: 'c', state: 's' })
      .expect(400);
    expect(noLogin.body.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'no_login_in_progress',
    });
  });

  it('503s initiate while the identity provider is unreachable, and stays up', async () => {
    const res = await http().post('/bodhi/v1/auth/initiate').expect(503);
    expect(res.body.error).toMatchObject({
      type: 'service_unavailable',
      code: 'auth_provider_unavailable',
    });
    await http().get('/bodhi/v1/ping').expect(200);
  });

  it('hides dev routes outside development', async () => {
    const res = await http().get('/bodhi/v1/dev/sessions').expect(404);
    expect(res.body.error.type).toBe('not_found_error');
  });

  it('refuses a cross-site logout carrying the session cookie', async () => {
    const res = await http()
      .post('/bodhi/v1/logout')
      .set('Cookie', 'bodhiapp_session_id=s%3Ax.y')
      .set('Sec-Fetch-Site', 'cross-site')
      .expect(403);
    expect(res.body.error.code).toBe('cross_origin_request');
  });

  it('answers 503 in the error shape when the session store fails, and stays up', async () => {
    const store = app.get(DefaultSessionService).getSessionStore();
    const failing = jest
      .spyOn(store, 'get')
      .mockImplementation((_sid, cb) =>
        cb(new SessionStoreUnavailableError('session store unavailable: down')),
      );
    try {
      const res = await http()
        .get('/bodhi/v1/user')
        .set('Cookie', `bodhiapp_session_id=${signedCookie('some-session')}`);
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({
        type: 'service_unavailable',
        code: 'session_store_unavailable',
      });
    } finally {
      failing.mockRestore();
    }
    await http().get('/bodhi/v1/ping').expect(200);
  });

  it('reads sessions from the store passed as sessionStore, not the configured one', async () => {
    const memory = new session.MemoryStore();
    const read = jest.spyOn(memory, 'get');
    const bench = await createBodhiApp({ logger: false, env, sessionStore: memory });
    await bench.init();
    try {
      const configured = jest.spyOn(bench.get(DefaultSessionService).getSessionStore(), 'get');
      await request(bench.getHttpServer())
        .get('/bodhi/v1/user')
        .set('Cookie', `bodhiapp_session_id=${signedCookie('bench-session')}`)
        .expect(200, { auth_status: 'logged_out' });
      expect(read).toHaveBeenCalledWith('bench-session', expect.any(Function));
      expect(configured).not.toHaveBeenCalled();
    } finally {
      await bench.close();
    }
  });

  it('closes the session DataSource when the app closes', async () => {
    const dataSource = app.get<DataSource>(SESSION_DATA_SOURCE);
    expect(dataSource.isInitialized).toBe(true);
    const other = await createBodhiApp({
      logger: false,
      env: serverEnv({ home: home.dir, db, provider: UNREACHABLE_PROVIDER }),
    });
    const otherSource = other.get<DataSource>(SESSION_DATA_SOURCE);
    await other.close();
    expect(otherSource.isInitialized).toBe(false);
  });
});

describe('a boot without the identity provider settings', () => {
  it('stops naming each missing variable, having written nothing to BODHI_HOME', async () => {
    const parent = tempHome('bodhi-no-auth-');
    const home = `${parent.dir}/home`;
    try {
      await expect(
        createBodhiApp({ logger: false, env: serverEnv({ home, db: { url: 'sqlite::memory:' } }) }),
      ).rejects.toThrow(
        /BODHI_AUTH_URL is required.*BODHI_AUTH_CLIENT_ID is required.*BODHI_AUTH_CLIENT_SECRET is required/,
      );
      expect(fs.existsSync(home)).toBe(false);
    } finally {
      parent.remove();
    }
  });
});
