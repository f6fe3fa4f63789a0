import {
  BodhiClient,
  DEMO_USER,
  PrivatePostgres,
  PrivateStack,
  secretsIn,
  sessionSecrets,
  Stack,
  startStackOnPrivatePostgres,
} from '@bodhi/testing';

const DB_PASSWORD = 'db-pw-Jk4r8Wq1';

/** A line the server printed, parsed. */
interface LogLine {
  level: number;
  msg?: string;
  reqId?: string;
  res?: { statusCode: number };
}

describe('structured logs (BODHI_LOG_FORMAT=json)', () => {
  let pg: PrivatePostgres;
  let stack: Stack;
  let env: PrivateStack;

  beforeAll(async () => {
    env = await startStackOnPrivatePostgres(
      { accessTokenTtlSeconds: 2, logLevel: 'trace', env: { BODHI_LOG_FORMAT: 'json' } },
      DB_PASSWORD,
    );
    ({ pg, stack } = env);
  }, 120_000);
  afterAll(() => env?.stop(), 120_000);

  it('a login, refresh, outage and logout: every line JSON, no secret, request ids bound and echoed', async () => {
    const server = stack.servers[0];
    const browser = new BodhiClient(server.url);
    await browser.login(DEMO_USER.username, DEMO_USER.password);
    const cookie = browser.cookie as string;
    const sid = browser.sessionId() as string;
    const before = (await stack.session(sid)) ?? {};

    await stack.untilAccessTokenExpired(sid);
    const refreshed = await browser.get('/bodhi/v1/user', { 'X-Request-Id': 'e2e-refresh-1' });
    expect(refreshed.body).toMatchObject({ auth_status: 'logged_in' });
    expect(refreshed.headers.get('x-request-id')).toBe('e2e-refresh-1');
    const after = (await stack.session(sid)) ?? {};
    expect(after.access_token).not.toBe(before.access_token);

    await pg.pause();
    const outage = await browser.get('/bodhi/v1/user', { 'X-Request-Id': 'e2e-outage-1' });
    expect(outage.status).toBe(503);
    expect(outage.headers.get('x-request-id')).toBe('e2e-outage-1');
    await pg.resume();
    const hostile = await browser.get('/bodhi/v1/user', { 'X-Request-Id': 'evil\tid' });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    // logout() with an id, so the check below waits for its request line (written once the
    // logout's own lines are) to have come through the pipe.
    const logout = await browser.post('/bodhi/v1/logout', {}, { 'X-Request-Id': 'e2e-logout-1' });
    expect(logout.headers.get('x-request-id')).toBe('e2e-logout-1');
    await server.waitForOutput(/"reqId":"e2e-logout-1"[^\n]*"res":\{"statusCode":/);

    const output = server.output(Infinity);
    const lines = output.split('\n').filter((l) => l.trim() !== '');
    const unparsed = lines.filter((l) => {
      try {
        return typeof JSON.parse(l) !== 'object';
      } catch {
        return true;
      }
    });
    expect(unparsed).toEqual([]);
    const logged = lines.map((l) => JSON.parse(l) as LogLine);
    expect(logged.some((l) => /^Bodhi server listening on /.test(l.msg ?? ''))).toBe(true);

    expect(
      secretsIn(output, sessionSecrets({ before, after, sid, cookie, dbPassword: DB_PASSWORD })),
    ).toEqual([]);

    const ofRequest = (id: string) => logged.filter((l) => l.reqId === id);
    // The refresh's request line, and its debug line from inside the request.
    expect(ofRequest('e2e-refresh-1')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 30, res: { statusCode: 200 } }),
        expect.objectContaining({ level: 20, msg: expect.stringMatching(/^Refreshed tokens/) }),
      ]),
    );
    // The outage: the request line at error, and the store's warning inside the request.
    expect(ofRequest('e2e-outage-1')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 50, res: { statusCode: 503 } }),
        expect.objectContaining({ level: 40 }),
      ]),
    );
    expect(output).not.toContain('evil\\tid');
    expect(ofRequest('e2e-logout-1')).toEqual(
      expect.arrayContaining([expect.objectContaining({ res: { statusCode: logout.status } })]),
    );
  });
});
