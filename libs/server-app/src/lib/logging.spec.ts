import type { INestApplication } from '@nestjs/common';
import {
  createTestSessionDb,
  serverEnv,
  tempHome,
  TestSessionDb,
  UNREACHABLE_PROVIDER,
  until,
  type TempHome,
} from '@bodhi/testing';
import { Writable } from 'node:stream';
import request from 'supertest';
import { bootLogger, createLogger, loggingConfig, type LoggingConfig } from './logging.js';
import { requestId } from './logging.request.js';
import { createBodhiApp } from './server-app.factory.js';

/** A JSON log line, as far as these tests read it. */
interface LogLine {
  level: number;
  msg?: string;
  reqId?: string;
  context?: string;
  req?: { method?: string; url?: string; remoteAddress?: string; headers?: object };
  res?: { statusCode: number };
  err?: { code?: string; message?: string; stack?: string };
  [field: string]: unknown;
}

/** The lines a logger wrote, each parsed when it is JSON. */
class LogLines extends Writable {
  private chunks: string[] = [];

  constructor() {
    super({ write: (chunk, _enc, done) => (this.chunks.push(String(chunk)), done()) });
  }

  get text(): string {
    return this.chunks.join('');
  }

  get lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }

  json(): LogLine[] {
    return this.lines.map((l) => JSON.parse(l));
  }
}

const JSON_TRACE: LoggingConfig = { level: 'trace', format: 'json' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('the logging config', () => {
  it('keeps BODHI_LOG_LEVEL meaning and lets createBodhiApp`s logger option override it', () => {
    const server = { logLevel: 'debug', logFormat: 'json' } as const;
    expect(loggingConfig(server)).toEqual({ level: 'debug', format: 'json' });
    expect(loggingConfig(server, false)).toEqual({ level: 'silent', format: 'json' });
    expect(loggingConfig(server, ['fatal', 'error', 'warn']).level).toBe('warn');
    expect(loggingConfig(server, ['log', 'error', 'verbose']).level).toBe('trace');
    expect(loggingConfig(server, []).level).toBe('silent');
  });

  it('writes what its level allows: warn drops info, trace keeps every level', () => {
    const out = new LogLines();
    const warn = createLogger({ level: 'warn', format: 'json' }, out);
    warn.info('quiet');
    warn.warn('loud');
    warn.fatal('fatal');
    expect(out.json().map((l) => l.msg)).toEqual(['loud', 'fatal']);

    const all = new LogLines();
    const trace = createLogger(JSON_TRACE, all);
    for (const level of ['trace', 'debug', 'info', 'warn', 'error'] as const) trace[level](level);
    expect(all.json().map((l) => l.level)).toEqual([10, 20, 30, 40, 50]);
  });

  it('json is one JSON object per line; pretty is readable lines, one per entry', async () => {
    const json = new LogLines();
    createLogger(JSON_TRACE, json).info({ context: 'Spec', n: 1 }, 'hello json');
    expect(json.json()).toEqual([
      expect.objectContaining({ msg: 'hello json', context: 'Spec', n: 1 }),
    ]);

    const pretty = new LogLines();
    const logger = createLogger({ level: 'info', format: 'pretty' }, pretty);
    logger.info({ context: 'Spec' }, 'hello pretty');
    logger.warn({ detail: { a: 1 } }, 'second');
    await until(() => pretty.lines.length === 2);
    expect(pretty.lines[0]).toMatch(/INFO.*\[Spec\] hello pretty/);
    expect(pretty.lines[1]).toMatch(/WARN.*second/);
    expect(() => JSON.parse(pretty.lines[0])).toThrow();
  });

  it('redacts cookies, authorization, token fields and URL passwords in every line', () => {
    const out = new LogLines();
    const logger = createLogger(JSON_TRACE, out);
    logger.info({
      req: {
        headers: { cookie: 'bodhi_session=s%3Asid-cookie', authorization: 'Bearer tok-auth' },
      },
      res: { headers: { 'set-cookie': ['bodhi_session=s%3Anew-cookie'] } },
      tokens: { access_token: 'at-123', nested: { refresh_token: 'rt-456', password: 'pw-789' } },
      query: { code: 'code-abc', state: 'state-def' },
      err: { code: 'ECONNREFUSED' },
    });
    logger.warn('cannot connect to postgres://bodhi:hunter22@db:5432/sessions');
    logger.error(new Error('connect to postgres://bodhi:hunter33@db/sessions failed'));
    const text = out.text;
    for (const secret of ['sid-cookie', 'tok-auth', 'new-cookie', 'at-123', 'rt-456', 'pw-789']) {
      expect({ [secret]: text.includes(secret) }).toEqual({ [secret]: false });
    }
    for (const secret of ['code-abc', 'state-def', 'hunter22', 'hunter33']) {
      expect({ [secret]: text.includes(secret) }).toEqual({ [secret]: false });
    }
    const [first, second, third] = out.json();
    expect(first.req?.headers).toEqual({ cookie: '***', authorization: '***' });
    // An error's code stays readable: an operator needs it.
    expect(first.err).toEqual({ code: 'ECONNREFUSED' });
    expect(second.msg).toBe('cannot connect to postgres://bodhi:***@db:5432/sessions');
    expect(third.err?.message).toBe('connect to postgres://bodhi:***@db/sessions failed');
    expect(third.err?.stack).not.toContain('hunter33');
  });

  it('a failed boot logs in the settings` format, or as JSON when the settings are invalid', () => {
    const json = new LogLines();
    bootLogger({ BODHI_PORT: 'not-a-port' }, json).fatal('Bodhi server failed to start: x');
    expect(json.json()).toEqual([expect.objectContaining({ level: 60 })]);
  });
});

describe('request ids', () => {
  it('keeps a sane X-Request-Id and replaces anything else by a UUID', () => {
    for (const sane of [
      'abc-123',
      'a.b:c_d',
      'x'.repeat(128),
      '0f7c1d2e-aaaa-4bbb-8ccc-123456789abc',
    ]) {
      expect(requestId(sane)).toBe(sane);
    }
    const hostile = [
      '',
      'x'.repeat(129),
      'a\nb',
      'a"b',
      "a'b",
      'a b',
      'a, b',
      'x'.repeat(10_000),
      '<script>',
    ];
    for (const id of [...hostile, undefined, ['a', 'b']]) {
      expect(requestId(id)).toMatch(UUID);
    }
  });
});

describe('the app`s logs (JSON, trace)', () => {
  let db: TestSessionDb;
  let home: TempHome;
  let app: INestApplication;
  const out = new LogLines();

  beforeAll(async () => {
    db = await createTestSessionDb('sqlite');
    home = tempHome('bodhi-logging-');
    app = await createBodhiApp({
      env: serverEnv({
        home: home.dir,
        db,
        provider: UNREACHABLE_PROVIDER,
        logLevel: 'trace',
        env: { BODHI_HOST: '127.0.0.1', BODHI_LOG_FORMAT: 'json' },
      }),
      logDestination: out,
    });
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    home?.remove();
  });

  const http = () => request(app.getHttpServer());
  /** The request line of the request with id `id`, once written. */
  async function requestLine(id: string): Promise<LogLine> {
    const find = () => out.json().find((l) => l.reqId === id && l.res !== undefined);
    await until(() => find() !== undefined);
    return find() as LogLine;
  }

  it('logs a 2xx request at info', async () => {
    await http()
      .get('/bodhi/v1/user')
      .set('Host', '127.0.0.1')
      .set('X-Request-Id', 'spec-200')
      .expect(200);
    expect(await requestLine('spec-200')).toMatchObject({
      level: 30,
      msg: 'request completed',
      res: { statusCode: 200 },
    });
  });

  it('boot lines go through pino as JSON', () => {
    expect(out.lines.length).toBeGreaterThan(0);
    expect(out.json().some((l) => l.context === 'NestApplication')).toBe(true);
  });

  it('echoes a sane X-Request-Id and logs one lean line with it, without cookie or authorization', async () => {
    const res = await http()
      .get('/bodhi/v1/user')
      .set('Host', '127.0.0.1')
      .set('X-Request-Id', 'spec-req-1')
      .set('Cookie', 'bodhi_session=s%3Asecret-cookie-value')
      // A bearer token is checked with the (unreachable) provider: a 503.
      .set('Authorization', 'Bearer secret-bearer-value');
    expect(res.headers['x-request-id']).toBe('spec-req-1');
    const line = await requestLine('spec-req-1');
    expect(line).toMatchObject({
      req: { method: 'GET', url: '/bodhi/v1/user', remoteAddress: expect.any(String) },
      res: { statusCode: res.status },
      responseTime: expect.any(Number),
    });
    expect(Object.keys(line.req ?? {}).sort()).toEqual(['method', 'remoteAddress', 'url']);
    expect(out.text).not.toContain('secret-cookie-value');
    expect(out.text).not.toContain('secret-bearer-value');
  });

  it('replaces a hostile id by a UUID, on refusals and 404s too', async () => {
    const notFound = await http().get('/nope').set('X-Request-Id', 'a"b').expect(404);
    expect(notFound.headers['x-request-id']).toMatch(UUID);
    const long = await http().get('/bodhi/v1/user').set('X-Request-Id', 'x'.repeat(10_000));
    expect(long.headers['x-request-id']).toMatch(UUID);
    // The Host check (DNS rebinding) and the same-origin check refuse before any route.
    const rebound = await http()
      .get('/bodhi/v1/user')
      .set('Host', 'evil.example')
      .set('X-Request-Id', 'spec-421');
    expect(rebound.status).toBe(421);
    expect(rebound.headers['x-request-id']).toBe('spec-421');
    expect(await requestLine('spec-421')).toMatchObject({ level: 40, res: { statusCode: 421 } });
    const crossSite = await http()
      .post('/bodhi/v1/auth/logout')
      .set('Sec-Fetch-Site', 'cross-site')
      .set('X-Request-Id', 'spec-403');
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers['x-request-id']).toBe('spec-403');
    // Probes are answered with an id, and logged by no request line.
    const ping = await http().get('/bodhi/v1/ping').set('X-Request-Id', 'spec-ping').expect(200);
    expect(ping.headers['x-request-id']).toBe('spec-ping');
    await requestLine('spec-403');
    expect(out.json().filter((l) => l.reqId === 'spec-ping')).toEqual([]);
  });

  it('binds the id to lines logged inside the request (a failed discovery, a 503 at error)', async () => {
    const res = await http()
      .post('/bodhi/v1/auth/initiate')
      .set('Sec-Fetch-Site', 'same-origin')
      .set('X-Request-Id', 'spec-inside');
    expect(res.status).toBe(503);
    const line = await requestLine('spec-inside');
    expect(line).toMatchObject({ level: 50, res: { statusCode: 503 } });
    expect(line.err).toBeUndefined();
    const inside = out.json().filter((l) => l.reqId === 'spec-inside' && l.res === undefined);
    expect(inside).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 40, msg: expect.stringMatching(/OpenID discovery/) }),
      ]),
    );
  });

  it('never logs the callback`s code and state', async () => {
    await http()
      .get('/ui/auth/callback?code=spec-code-secret&state=spec-state-secret')
      .set('Host', '127.0.0.1')
      .set('X-Request-Id', 'spec-callback')
      .expect(200);
    expect((await requestLine('spec-callback')).req?.url).toBe('/ui/auth/callback');
    expect(out.text).not.toContain('spec-code-secret');
    expect(out.text).not.toContain('spec-state-secret');
  });
});
