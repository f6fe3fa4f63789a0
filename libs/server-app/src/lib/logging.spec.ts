import { type INestApplication, Logger } from '@nestjs/common';
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
import { MAX_LOGGED_FIELD } from './logging.redact.js';
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

/** An app on its own SQLite store logging JSON at `logLevel` to `out`; close() removes it all. */
async function logCapturingApp(
  out: LogLines,
  logLevel: string,
): Promise<{ app: INestApplication; close(): Promise<void> }> {
  const db: TestSessionDb = await createTestSessionDb('sqlite');
  const home: TempHome = tempHome('bodhi-logging-');
  const app = await createBodhiApp({
    env: serverEnv({
      home: home.dir,
      db,
      provider: UNREACHABLE_PROVIDER,
      logLevel,
      env: { BODHI_HOST: '127.0.0.1', BODHI_LOG_FORMAT: 'json' },
    }),
    logDestination: out,
  });
  await app.init();
  return {
    app,
    async close() {
      await app.close();
      await db.drop();
      home.remove();
    },
  };
}

describe('the app`s logs (JSON, trace)', () => {
  let app: INestApplication;
  let close: () => Promise<void>;
  const out = new LogLines();

  beforeAll(async () => {
    ({ app, close } = await logCapturingApp(out, 'trace'));
  });
  afterAll(() => close?.());

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

  it('answers the hostile 15.6 KB paths of #28 with a 404, logged with the path cut and marked', async () => {
    const cases = [
      ['spec-hostile-eyj', `/${'eyJ'.repeat(5200)}@://`, '/***…(15605 chars)'],
      [
        'spec-hostile-a',
        `/${'a'.repeat(15_600)}@://`,
        `/${'a'.repeat(MAX_LOGGED_FIELD - 1)}…(15605 chars)`,
      ],
    ];
    for (const [id, path, logged] of cases) {
      await http().get(path).set('X-Request-Id', id).expect(404);
      expect(await requestLine(id)).toMatchObject({
        level: 40,
        req: { url: logged },
        res: { statusCode: 404 },
      });
    }
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

  it('redacts URL passwords and JWTs in every byte, an error logged alone included', async () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzcGVjLWp3dCJ9.c2lnbmF0dXJlLXNwZWM';
    const mark = out.lines.length;
    // nestjs-pino logs these as { context, err } with no message: pino takes the line's
    // message from the error after every call hook.
    new Logger('Spec').error(new Error('Cannot open postgres://u:pw-alone-1@h/db'));
    new Logger('ExceptionHandler').error(
      'Cannot open postgres://u:pw-handler-2@h/db',
      new Error('postgres://u:pw-handler-2@h/db').stack,
    );
    new Logger('Spec').log({ url: 'postgres://u:pw-field-3@db/x', detail: { nested: jwt } });
    new Logger('Spec').warn(`bearer ${jwt} refused`);
    const lines = out.json().slice(mark);
    expect(lines).toHaveLength(4);
    for (const secret of ['pw-alone-1', 'pw-handler-2', 'pw-field-3', jwt, 'c2lnbmF0dXJlLXNwZWM']) {
      expect({ [secret]: out.text.includes(secret) }).toEqual({ [secret]: false });
    }
    expect(lines[0].msg).toBe('Cannot open postgres://u:***@h/db');
    expect(lines[2].url).toBe('postgres://u:***@db/x');
    expect(lines[3].msg).toBe('bearer *** refused');
  });

  it('logs an error`s type, message, stack, code and kind, none of its other fields', () => {
    const mark = out.lines.length;
    const err = Object.assign(new Error('duplicate key', { cause: new Error('the cause') }), {
      code: '23505',
      kind: 'invalid_input',
      parameters: ['{"access_token":"param-token-secret"}'],
      driverError: { detail: 'Key (sid)=(driver-detail-secret) already exists' },
      nested: new Error('nested-error-secret'),
    });
    new Logger('Spec').error(err);
    // An error under any other key, at any depth, is shown the same way.
    new Logger('Spec').warn({ failure: { during: [err] } });
    const [line, nested] = out.json().slice(mark);
    expect(nested.failure).toEqual({ during: [line.err] });
    expect(Object.keys(line.err ?? {}).sort()).toEqual([
      'code',
      'kind',
      'message',
      'stack',
      'type',
    ]);
    expect(line.err).toMatchObject({ code: '23505', kind: 'invalid_input', type: 'Error' });
    expect(line.err?.message).toContain('the cause');
    for (const secret of ['param-token-secret', 'driver-detail-secret', 'nested-error-secret']) {
      expect({ [secret]: out.text.includes(secret) }).toEqual({ [secret]: false });
    }
  });

  it('redacts cookie, authorization and set-cookie in either spelling and at any depth', () => {
    const mark = out.lines.length;
    new Logger('Spec').log({
      headers: {
        cookie: 'hdr-cookie-1',
        authorization: 'hdr-auth-2',
        Cookie: 'hdr-cookie-3',
        Authorization: 'hdr-auth-4',
      },
      res: { headers: { 'set-cookie': ['hdr-set-5'] } },
      upstream: { response: { headers: { 'Set-Cookie': 'hdr-set-6' } } },
    });
    const [line] = out.json().slice(mark);
    expect(line.headers).toEqual({
      cookie: '***',
      authorization: '***',
      Cookie: '***',
      Authorization: '***',
    });
    expect(out.text).not.toMatch(/hdr-(cookie|auth|set)-\d/);
  });

  it('writes no request line for answered probes in any case, with a trailing slash', async () => {
    const probes = ['/bodhi/v1/ping/', '/BODHI/v1/Ping', '/bodhi/v1/ping', '/bodhi/v1/health/'];
    for (const [i, path] of probes.entries()) {
      await http()
        .get(path)
        .set('Host', '127.0.0.1')
        .set('X-Request-Id', `spec-probe-${i}`)
        .expect(200);
    }
    await http().get('/bodhi/v1/user').set('Host', '127.0.0.1').set('X-Request-Id', 'spec-after');
    await requestLine('spec-after');
    expect(out.json().filter((l) => /^spec-probe-/.test(l.reqId ?? ''))).toEqual([]);
  });

  it('logs a probe or scrape that is refused or fails, like any request', async () => {
    // Metrics are off here: a scan of /metrics is a 404, and shows.
    for (const path of ['/metrics', '/Metrics/']) {
      await http().get(path).set('Host', '127.0.0.1').set('X-Request-Id', 'spec-scan').expect(404);
    }
    await until(() => out.json().filter((l) => l.reqId === 'spec-scan').length === 2);
    expect(out.json().filter((l) => l.reqId === 'spec-scan')).toEqual([
      expect.objectContaining({ level: 40, res: { statusCode: 404 } }),
      expect.objectContaining({ level: 40, res: { statusCode: 404 } }),
    ]);
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

describe('one logger per process (nestjs-pino keeps one)', () => {
  const first = new LogLines();

  it('a second app, while the first runs, logs with the first one`s settings and is told so in one warn line', async () => {
    const second = new LogLines();
    const a = await logCapturingApp(first, 'info');
    const b = await logCapturingApp(second, 'trace');
    try {
      expect(first.json()).toContainEqual(
        expect.objectContaining({
          level: 40,
          msg: expect.stringMatching(/^Logging settings .*level trace.* are ignored/),
        }),
      );
      new Logger('Spec').debug('second-debug-line');
      new Logger('Spec').log('second-info-line');
      expect(second.lines).toEqual([]);
      expect(first.text).not.toContain('second-debug-line');
      expect(first.text).toContain('second-info-line');
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('once they closed, a later app logs with its own settings (level, destination)', async () => {
    // A boot that fails (its database cannot open) never shuts down: it must not keep its place.
    const failed = new LogLines();
    const home = tempHome('bodhi-logging-failed-');
    await expect(
      createBodhiApp({
        env: serverEnv({
          home: home.dir,
          db: { url: 'postgres://bodhi:pw@127.0.0.1:1/none' },
          provider: UNREACHABLE_PROVIDER,
          logLevel: 'trace',
          env: { BODHI_HOST: '127.0.0.1', BODHI_LOG_FORMAT: 'json' },
        }),
        logDestination: failed,
      }),
    ).rejects.toThrow(/Cannot open session database/);
    home.remove();
    const later = new LogLines();
    const c = await logCapturingApp(later, 'warn');
    try {
      new Logger('Spec').log('later-info-line');
      new Logger('Spec').warn('later-warn-line');
      await request(c.app.getHttpServer())
        .get('/nope')
        .set('Host', '127.0.0.1')
        .set('X-Request-Id', 'spec-later-404')
        .expect(404);
      await until(() => later.json().some((l) => l.reqId === 'spec-later-404'));
      expect(later.json()).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ msg: 'later-warn-line' }),
          expect.objectContaining({ reqId: 'spec-later-404', level: 40 }),
        ]),
      );
      expect(later.text).not.toContain('later-info-line');
      expect(first.text).not.toMatch(/later-|spec-later/);
      expect(later.text).not.toMatch(/are ignored/);
      expect(failed.text).not.toMatch(/later-|spec-later/);
    } finally {
      await c.close();
    }
  });
});
