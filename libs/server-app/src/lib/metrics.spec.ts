import type { INestApplication } from '@nestjs/common';
import {
  createTestSessionDb,
  serverEnv,
  tempHome,
  UNREACHABLE_PROVIDER,
  type EnvVars,
  type TempHome,
  type TestSessionDb,
} from '@bodhi/testing';
import { BodhiMetrics, DefaultSessionService } from '@bodhi/services';
import { jest } from '@jest/globals';
import signature from 'cookie-signature';
import * as net from 'node:net';
import request from 'supertest';
import { MetricsServer } from './metrics.server.js';
import { createBodhiApp, startBodhiServer, type BodhiAppOptions } from './server-app.factory.js';

const SECRET = 'metrics-spec-secret-0123456789abcdef';
const refusal = (type: string, code: string) => ({
  error: { type, code, message: expect.any(String) },
});

/** A booted app on a fresh SQLite store, with `settings` on top. */
interface Booted {
  app: INestApplication;
  db: TestSessionDb;
  close(): Promise<void>;
}

/** How specs boot: `app.init()`, never listening. */
const initialised = async (options: BodhiAppOptions): Promise<INestApplication> => {
  const app = await createBodhiApp(options);
  try {
    await app.init();
  } catch (e) {
    await app.close();
    throw e;
  }
  return app;
};

async function boot(
  settings: EnvVars,
  start: (options: BodhiAppOptions) => Promise<INestApplication> = initialised,
): Promise<Booted> {
  const db = await createTestSessionDb('sqlite');
  const home: TempHome = tempHome('bodhi-metrics-');
  let app: INestApplication | undefined;
  const close = async () => {
    await app?.close();
    await db.drop();
    home.remove();
  };
  try {
    app = await start({
      logger: false,
      env: serverEnv({
        home: home.dir,
        port: 0,
        db,
        secret: SECRET,
        provider: UNREACHABLE_PROVIDER,
        env: settings,
      }),
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { app, db, close };
}

/** Session rows in the store: a scrape must add none. */
const rowCount = async (db: TestSessionDb) =>
  (await db.query(`SELECT id FROM ${db.qualifiedTable}`)).length;

/** A request the session middleware would look up: a validly signed cookie for `sid`. */
const sessionCookie = (sid: string) =>
  `bodhiapp_session_id=${encodeURIComponent(`s:${signature.sign(sid, SECRET)}`)}`;

/**
 * The rules /metrics is served under, wherever it is: the host, origin and method refusals
 * and the answer itself. `scrape` requests a path from where metrics are served.
 */
function servesUnderTheMetricsRules(scrape: () => request.Agent | ReturnType<typeof request>) {
  it('answers the registry exposition with its content type, no-store, and process metrics', async () => {
    const res = await scrape().get('/metrics').expect(200);
    expect(res.headers['content-type']).toBe(new BodhiMetrics().registry.contentType);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.text).toContain('# TYPE bodhi_session_store_operation_duration_seconds histogram');
    expect(res.text).toMatch(/^process_cpu_seconds_total \d/m);
    const head = await scrape().head('/metrics').expect(200);
    expect(head.text).toBeUndefined();
  });

  it('refuses a page of another site (Sec-Fetch-Site) and a foreign Origin with 403', async () => {
    for (const site of ['cross-site', 'same-site']) {
      const res = await scrape().get('/metrics').set('Sec-Fetch-Site', site).expect(403);
      expect(res.body).toEqual(refusal('forbidden_error', 'cross_origin_request'));
    }
    for (const origin of ['http://attacker.example', 'null']) {
      const res = await scrape().get('/metrics').set('Origin', origin).expect(403);
      expect(res.body).toEqual(refusal('forbidden_error', 'cross_origin_request'));
    }
    await scrape().get('/metrics').set('Sec-Fetch-Site', 'same-origin').expect(200);
    await scrape().get('/metrics').set('Sec-Fetch-Site', 'none').expect(200);
  });

  it('refuses a rebinding Host name with 421, and takes an IP literal (a scrape by pod IP)', async () => {
    for (const host of [
      'attacker.example',
      'attacker.example:9464',
      'Localhost.attacker.example',
    ]) {
      const res = await scrape().get('/metrics').set('Host', host).expect(421);
      expect(res.body).toEqual(refusal('invalid_request_error', 'host_not_allowed'));
    }
    for (const host of ['10.1.2.3:9464', '10.1.2.3', '[fd00::1]:9464']) {
      await scrape().get('/metrics').set('Host', host).expect(200);
    }
    // An allowed name still works, as for the rest of the app.
    await scrape().get('/metrics').set('Host', 'localhost:9464').expect(200);
  });

  it('refuses every method but GET and HEAD with 405', async () => {
    for (const method of ['post', 'put', 'delete', 'patch'] as const) {
      const res = await scrape()[method]('/metrics').expect(405);
      expect(res.headers['allow']).toBe('GET, HEAD');
      expect(res.body).toEqual(refusal('invalid_request_error', 'method_not_allowed'));
    }
  });
}

describe('metrics on the server port (BODHI_METRICS=on)', () => {
  let booted: Booted;
  beforeAll(async () => {
    booted = await boot({ BODHI_METRICS: 'on' });
  });
  afterAll(() => booted?.close());

  servesUnderTheMetricsRules(() => request(booted.app.getHttpServer()));

  it('runs outside the session: a scrape with a session cookie reads no store, creates no row and sets no cookie', async () => {
    const store = booted.app.get(DefaultSessionService).getSessionStore();
    const read = jest.spyOn(store, 'get');
    try {
      const res = await request(booted.app.getHttpServer())
        .get('/metrics')
        .set('Cookie', sessionCookie('a-session-id'))
        .expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(read).not.toHaveBeenCalled();
      expect(await rowCount(booted.db)).toBe(0);
      // The same cookie on an app route is looked up: the spy sees what the session reads.
      await request(booted.app.getHttpServer())
        .get('/bodhi/v1/user')
        .set('Cookie', sessionCookie('a-session-id'));
      expect(read).toHaveBeenCalledWith('a-session-id', expect.any(Function));
    } finally {
      read.mockRestore();
    }
  });
});

describe('metrics off (the default)', () => {
  let booted: Booted;
  beforeAll(async () => {
    booted = await boot({});
  });
  afterAll(() => booted?.close());

  it('answers /metrics with a plain 404, creating no session, and samples no process metrics', async () => {
    const res = await request(booted.app.getHttpServer()).get('/metrics').expect(404);
    expect(res.body.error).toMatchObject({ type: 'not_found_error' });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(await rowCount(booted.db)).toBe(0);
    const { body } = await booted.app.get(BodhiMetrics).exposition();
    expect(body).not.toContain('process_cpu_seconds_total');
  });
});

describe('metrics on BODHI_METRICS_PORT', () => {
  let booted: Booted;
  let metricsUrl: string;
  beforeAll(async () => {
    booted = await boot({ BODHI_METRICS: 'on', BODHI_METRICS_PORT: '0' });
    metricsUrl = `http://127.0.0.1:${booted.app.get(MetricsServer).port()}`;
  });
  afterAll(() => booted?.close());

  servesUnderTheMetricsRules(() => request(metricsUrl));

  it("serves only /metrics there, and the server's own port answers /metrics with 404", async () => {
    for (const path of ['/', '/bodhi/v1/ping', '/metrics/x', '/ui/home']) {
      const res = await request(metricsUrl).get(path).expect(404);
      expect(res.body).toEqual(refusal('not_found_error', 'not_found'));
    }
    const own = await request(booted.app.getHttpServer()).get('/metrics').expect(404);
    expect(own.body.error).toMatchObject({ type: 'not_found_error' });
    expect(own.headers['set-cookie']).toBeUndefined();
    expect(await rowCount(booted.db)).toBe(0);
  });

  it.each([
    ['app.init() (specs)', initialised],
    [
      'startBodhiServer (app.listen)',
      async (options: BodhiAppOptions) => (await startBodhiServer(options)).app,
    ],
  ])('listens after %s, and stops listening when the app closes', async (_, start) => {
    const other = await boot({ BODHI_METRICS: 'on', BODHI_METRICS_PORT: '0' }, start);
    const port = other.app.get(MetricsServer).port();
    await request(`http://127.0.0.1:${port}`).get('/metrics').expect(200);
    await other.close();
    await expect(request(`http://127.0.0.1:${port}`).get('/metrics')).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });
});

describe('a metrics port already in use', () => {
  it('fails the boot naming BODHI_METRICS_PORT', async () => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const { port } = squatter.address() as net.AddressInfo;
    try {
      await expect(boot({ BODHI_METRICS: 'on', BODHI_METRICS_PORT: String(port) })).rejects.toThrow(
        new RegExp(`Cannot serve metrics on BODHI_METRICS_PORT=${port}: .*EADDRINUSE`),
      );
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
