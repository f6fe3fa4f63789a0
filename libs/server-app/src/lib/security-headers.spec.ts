/**
 * Hostile requests against the real app (supertest, a real SQLite store): the Host allow-list,
 * trusted proxies, and the headers of every kind of answer.
 */
import type { INestApplication } from '@nestjs/common';
import {
  createTestSessionDb,
  serverEnv,
  tempHome,
  TestSessionDb,
  UNREACHABLE_PROVIDER,
  type EnvVars,
  type TempHome,
} from '@bodhi/testing';
import { jest } from '@jest/globals';
import type { Request, Response } from 'express';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import request from 'supertest';
import { AllowedHostMiddleware } from './allowed-host.middleware.js';
import { createBodhiApp } from './server-app.factory.js';

const SECRET = 'server-app-test-secret-0123456789abcdef';
const PAGES = ['/ui/login', '/ui/auth/callback', '/ui/home', '/ui/sessions'];
const API_CSP = "default-src 'none';frame-ancestors 'none'";

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
/** The text of the one `<tag>` of a served page, as the browser hashes it. */
const inline = (html: string, tag: string) =>
  new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(html)?.[1] ?? '';

describe('hostile requests and security headers', () => {
  let db: TestSessionDb;
  let home: TempHome;
  const apps: INestApplication[] = [];

  /** The real app on the test store; `/__req` (the spec's own) shows what Express made of a request. */
  async function boot(env: EnvVars = {}): Promise<INestApplication> {
    const app = await createBodhiApp({
      logger: false,
      env: serverEnv({
        home: home.dir,
        db,
        secret: SECRET,
        provider: UNREACHABLE_PROVIDER,
        // Bound to 127.0.0.1 as the e2e servers are.
        env: { BODHI_HOST: '127.0.0.1', ...env },
      }),
    });
    app.use('/__req', (req: Request, res: Response) =>
      res.json({ ip: req.ip, protocol: req.protocol, hostname: req.hostname }),
    );
    await app.init();
    apps.push(app);
    return app;
  }

  let app: INestApplication;
  beforeAll(async () => {
    db = await createTestSessionDb('sqlite');
    home = tempHome('bodhi-server-app-security-');
    app = await boot();
  });
  afterAll(async () => {
    for (const a of apps) await a.close();
    await db?.drop();
    home?.remove();
  });

  const http = (a = app) => request(a.getHttpServer());
  const rows = () => db.query(`SELECT id FROM ${db.qualifiedTable}`);

  const expectMisdirected = (res: request.Response) => {
    expect(res.status).toBe(421);
    expect(res.body).toEqual({
      error: {
        type: 'invalid_request_error',
        code: 'host_not_allowed',
        message: expect.any(String),
      },
    });
    expect(res.headers['set-cookie']).toBeUndefined();
  };

  describe('the Host allow-list', () => {
    it.each([
      ['GET', '/bodhi/v1/user'],
      ['GET', '/bodhi/v1/dev/sessions'],
      ['GET', '/ui/home'],
      ['GET', '/ui/login'],
      ['GET', '/'],
      ['GET', '/bodhi/v1/nowhere'],
      ['POST', '/bodhi/v1/auth/initiate'],
      ['POST', '/bodhi/v1/logout'],
    ])('refuses %s %s naming another host: 421, no session made', async (method, path) => {
      const res = await http()
        [method === 'GET' ? 'get' : 'post'](path)
        .set('Host', 'attacker.example:1135')
        .set('Sec-Fetch-Site', 'same-origin');
      expectMisdirected(res);
      expect(await rows()).toEqual([]);
    });

    it('checks each request once, the root page included', async () => {
      const check = jest.spyOn(AllowedHostMiddleware.prototype, 'use');
      try {
        for (const path of ['/', '/ui/home', '/bodhi/v1/user']) {
          check.mockClear();
          await http().get(path);
          expect({ path, checks: check.mock.calls.length }).toEqual({ path, checks: 1 });
        }
      } finally {
        check.mockRestore();
      }
    });

    it.each(['127.0.0.1:9', 'localhost', 'LocalHost:1135', '[::1]:80', '[0:0:0:0:0:0:0:1]'])(
      'serves the bind host and its loopback aliases, whatever the port or case: %s',
      async (host) => {
        await http().get('/bodhi/v1/user').set('Host', host).expect(200);
        await http().get('/ui/home').set('Host', host).expect(200);
      },
    );

    it('answers the probes by any address (load balancers probe by IP), and nothing more', async () => {
      await http().get('/bodhi/v1/ping').set('Host', '10.1.2.3:1135').expect(200, {
        message: 'pong',
      });
      const health = await http().get('/bodhi/v1/health').set('Host', '10.1.2.3').expect(200);
      expect(health.body).toEqual({
        status: 'ok',
        info: { session_store: { status: 'up', backend: 'sqlite' } },
        error: {},
        details: { session_store: { status: 'up', backend: 'sqlite' } },
      });
    });

    /** Each raw request head's answer, sent as written over its own connection. */
    async function rawAnswers(heads: string[]): Promise<string[]> {
      const server = app.getHttpServer() as import('node:http').Server;
      if (!server.listening) await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as net.AddressInfo;
      const raw = (head: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1', () => socket.end(`${head}\r\n\r\n`));
          let answer = '';
          socket.on('data', (d) => (answer += d));
          socket.on('end', () => resolve(answer));
          socket.on('error', reject);
        });
      try {
        const answers: string[] = [];
        for (const head of heads) answers.push(await raw(head));
        return answers;
      } finally {
        await new Promise((r) => server.close(r));
      }
    }
    const statusLine = (answer: string) => answer.split('\r\n')[0];

    it('refuses a request without a Host (HTTP/1.0) or with a malformed one', async () => {
      const heads = [
        'GET /ui/home HTTP/1.0',
        'GET /ui/home HTTP/1.1\r\nHost: localhost/evil\r\nConnection: close',
        'GET /ui/home HTTP/1.1\r\nHost: attacker.example@localhost\r\nConnection: close',
      ];
      const answers = await rawAnswers(heads);
      heads.forEach((head, i) => {
        expect({ head, status: statusLine(answers[i]) }).toEqual({
          head,
          status: expect.stringMatching(/^HTTP\/1\.[01] 421 /),
        });
        expect(answers[i]).toContain('"code":"host_not_allowed"');
        expect(answers[i]).not.toMatch(/set-cookie/i);
      });
    });

    it("checks an absolute-form target's host (it wins over Host), and refuses two Hosts", async () => {
      const [absolute, allowedAbsolute, twoHosts] = await rawAnswers([
        'GET http://attacker.example/ui/home HTTP/1.1\r\nHost: localhost\r\nConnection: close',
        'GET http://localhost:1135/ui/home HTTP/1.1\r\nHost: localhost\r\nConnection: close',
        'GET /ui/home HTTP/1.1\r\nHost: localhost\r\nHost: attacker.example\r\nConnection: close',
      ]);
      expect(statusLine(absolute)).toBe('HTTP/1.1 421 Misdirected Request');
      expect(absolute).toContain('"code":"host_not_allowed"');
      expect(statusLine(allowedAbsolute)).toBe('HTTP/1.1 200 OK');
      expect(statusLine(twoHosts)).toBe('HTTP/1.1 400 Bad Request');
      expect(twoHosts).toContain('"code":"duplicate_host"');
      for (const answer of [absolute, twoHosts]) expect(answer).not.toMatch(/set-cookie/i);
      expect(await rows()).toEqual([]);
    });

    it('without a trusted proxy, a forged X-Forwarded-Host changes nothing', async () => {
      // An allowed X-Forwarded-Host does not let another Host through…
      expectMisdirected(
        await http()
          .get('/bodhi/v1/dev/sessions')
          .set('Host', 'attacker.example')
          .set('X-Forwarded-Host', 'localhost'),
      );
      // …nor does a foreign one refuse an allowed Host; nor do the others count.
      const seen = await http()
        .get('/__req')
        .set('Host', 'localhost:1135')
        .set('X-Forwarded-Host', 'attacker.example')
        .set('X-Forwarded-For', '203.0.113.9')
        .set('X-Forwarded-Proto', 'https')
        .expect(200);
      expect(seen.body).toEqual({ ip: '127.0.0.1', protocol: 'http', hostname: 'localhost' });
    });

    it('BODHI_ALLOWED_HOSTS names the hosts exactly; * turns the check off', async () => {
      const listed = await boot({ BODHI_ALLOWED_HOSTS: 'bodhi.example' });
      await http(listed).get('/ui/home').set('Host', 'Bodhi.Example:8443').expect(200);
      expectMisdirected(await http(listed).get('/ui/home').set('Host', 'localhost'));
      const any = await boot({ BODHI_ALLOWED_HOSTS: '*' });
      await http(any).get('/ui/home').set('Host', 'whatever.example').expect(200);
    });
  });

  describe('request bodies: read only after the Host and same-origin checks', () => {
    const malformed = (path = '/bodhi/v1/auth/initiate') =>
      http().post(path).set('Content-Type', 'application/json').send('{');

    it('refuses a malformed body naming another host with 421, no-store, not 400', async () => {
      const res = await malformed()
        .set('Host', 'attacker.example')
        .set('Sec-Fetch-Site', 'cross-site');
      expectMisdirected(res);
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('refuses a cross-site malformed body with 403', async () => {
      const res = await malformed().set('Sec-Fetch-Site', 'cross-site').expect(403);
      expect(res.body.error.code).toBe('cross_origin_request');
    });

    it('answers a bad body of a same-origin request 400 or 413 in the error shape', async () => {
      const bad = await malformed('/bodhi/v1/auth/callback')
        .set('Sec-Fetch-Site', 'same-origin')
        .expect(400);
      expect(bad.body).toEqual({
        error: { type: 'invalid_request_error', code: 'bad_request', message: expect.any(String) },
      });
      const big = await http()
        .post('/bodhi/v1/auth/callback')
        .set('Sec-Fetch-Site', 'same-origin')
        .send({ code: 'c'.repeat(200_000), state: 's' })
        .expect(413);
      expect(big.body).toEqual({
        error: {
          type: 'invalid_request_error',
          code: 'payload_too_large',
          message: expect.any(String),
        },
      });
      expect(big.headers['cache-control']).toBe('no-store');
      expect(await rows()).toEqual([]);
    });
  });

  describe('behind a trusted proxy (BODHI_TRUST_PROXY=loopback)', () => {
    let proxied: INestApplication;
    beforeAll(async () => {
      proxied = await boot({
        BODHI_TRUST_PROXY: 'loopback',
        BODHI_PUBLIC_HOST: 'bodhi.example',
        BODHI_PUBLIC_SCHEME: 'https',
      });
    });

    it('takes the client address, scheme and host from X-Forwarded-*', async () => {
      const seen = await http(proxied)
        .get('/__req')
        .set('Host', '127.0.0.1:1135')
        .set('X-Forwarded-Host', 'bodhi.example')
        .set('X-Forwarded-For', '203.0.113.9')
        .set('X-Forwarded-Proto', 'https')
        .expect(200);
      expect(seen.body).toEqual({
        ip: '203.0.113.9',
        protocol: 'https',
        hostname: 'bodhi.example',
      });
    });

    it('checks the Host the proxy passes on, and every X-Forwarded-Host entry', async () => {
      // nginx with `proxy_set_header Host $host` and X-Forwarded-Host overwritten.
      await http(proxied)
        .get('/ui/home')
        .set('Host', 'bodhi.example')
        .set('X-Forwarded-Host', 'bodhi.example')
        .expect(200);
      // A rebinding page's own fetch sets X-Forwarded-Host; a proxy passing it on (or
      // appending to it) must not let the page pick the name checked.
      for (const [host, forwarded] of [
        ['attacker.example', 'localhost'],
        ['attacker.example', 'bodhi.example'],
        ['localhost', 'localhost, attacker.example'],
        ['bodhi.example', 'attacker.example'],
        // A proxy that rewrites Host to its upstream's name hides the browser's.
        ['upstream.internal', 'bodhi.example'],
      ]) {
        const res = await http(proxied)
          .get('/bodhi/v1/dev/sessions')
          .set('Host', host)
          .set('X-Forwarded-Host', forwarded);
        expect({ host, forwarded, status: res.status }).toEqual({ host, forwarded, status: 421 });
        expectMisdirected(res);
      }
    });

    it('accepts a write whose Origin is the public URL, refuses a foreign one', async () => {
      const post = (origin: string) =>
        http(proxied)
          .post('/bodhi/v1/logout')
          .set('Host', 'bodhi.example')
          .set('X-Forwarded-Proto', 'https')
          .set('Origin', origin);
      await post('https://bodhi.example').expect(200);
      const foreign = await post('https://attacker.example').expect(403);
      expect(foreign.body.error.code).toBe('cross_origin_request');
    });

    it('sends HSTS, since browsers reach it over https', async () => {
      const res = await http(proxied).get('/bodhi/v1/user').set('Host', 'bodhi.example');
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    });
  });

  describe('headers', () => {
    const expectCommon = (res: request.Response) => {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-powered-by']).toBeUndefined();
      // Reached over http: no HSTS.
      expect(res.headers['strict-transport-security']).toBeUndefined();
    };

    it('API answers, errors and refusals: no-store, a CSP that loads nothing', async () => {
      const answers = [
        await http().get('/bodhi/v1/user').expect(200),
        await http().get('/bodhi/v1/nowhere').expect(404),
        await http().post('/bodhi/v1/auth/callback').send({ code: 'c', state: 's' }).expect(400),
        await http()
          .post('/bodhi/v1/auth/initiate')
          .set('Sec-Fetch-Site', 'cross-site')
          .expect(403),
        await http().post('/bodhi/v1/auth/initiate').expect(503),
        await http().get('/bodhi/v1/user').set('Host', 'attacker.example').expect(421),
        await http().get('/bodhi/v1/ping').expect(200),
      ];
      for (const res of answers) {
        expectCommon(res);
        expect(res.headers['content-security-policy']).toBe(API_CSP);
        // initiate's own header says no-store too, with what HTTP/1.0 caches need.
        expect(res.headers['cache-control']).toMatch(/(^|, )no-store(,|$)/);
      }
    });

    it.each(PAGES)('%s: a CSP allowing its own inline script and style, by hash', async (path) => {
      const res = await http().get(path).expect(200);
      expectCommon(res);
      expect(res.headers['cache-control']).toBe('no-store');
      const csp = Object.fromEntries(
        String(res.headers['content-security-policy'])
          .split(';')
          .map((d) => {
            const [name, ...values] = d.trim().split(/\s+/);
            return [name, values.join(' ')];
          }),
      );
      expect(csp).toEqual({
        'default-src': "'none'",
        'script-src': sha256(inline(res.text, 'script')),
        'style-src': sha256(inline(res.text, 'style')),
        'connect-src': "'self'",
        'form-action': "'self'",
        'base-uri': "'none'",
        'frame-ancestors': "'none'",
      });
    });

    it('each page allows only its own script', async () => {
      const scripts = new Set<string>();
      for (const path of PAGES) {
        const res = await http().get(path);
        scripts.add(/script-src ([^;]+)/.exec(res.headers['content-security-policy'])?.[1] ?? '');
      }
      expect(scripts.size).toBe(PAGES.length);
    });
  });
});
