import {
  ApiResponse,
  BODHI_SERVER_SCRIPT,
  BodhiClient,
  DEMO_USER,
  ManagedProcess,
  PrivatePostgres,
  PrivateStack,
  serverEnv,
  Stack,
  startStackOnPrivatePostgres,
  tempHome,
  UNREACHABLE_PROVIDER,
  until,
} from '@bodhi/testing';

describe('PostgreSQL outage', () => {
  let pg: PrivatePostgres;
  let stack: Stack;
  let env: PrivateStack;

  beforeAll(async () => {
    env = await startStackOnPrivatePostgres();
    ({ pg, stack } = env);
  }, 120_000);
  afterAll(() => env?.stop(), 120_000);

  it('answers 503 while the database is down, stays up, and recovers within 5 s of its return', async () => {
    const browser = new BodhiClient(stack.servers[0].url);
    await browser.login(DEMO_USER.username, DEMO_USER.password);
    expect((await browser.user()).body).toMatchObject({ auth_status: 'logged_in' });

    await pg.pause();
    const during = await Promise.all(Array.from({ length: 5 }, () => browser.user()));
    for (const res of during) {
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        error: {
          type: 'service_unavailable',
          code: 'session_store_unavailable',
          message: expect.any(String),
        },
      });
    }
    // Requests that need no session still work: the process is up.
    expect((await browser.get('/bodhi/v1/ping')).status).toBe(200);
    expect((await browser.get('/bodhi/v1/health')).status).toBe(503);

    await pg.resume();
    let res: ApiResponse | undefined;
    // The pool reconnects by itself: requests succeed again within 5 s of the return.
    await until(async () => (res = await browser.user()).status === 200, 5000);
    expect(res?.body).toMatchObject({ auth_status: 'logged_in', username: DEMO_USER.username });
  });

  it('a server started while PostgreSQL is unreachable exits non-zero with one clear line', async () => {
    const home = tempHome('bodhi-e2e-home-');
    const server = new ManagedProcess(
      'bodhi-server',
      BODHI_SERVER_SCRIPT,
      serverEnv({
        home: home.dir,
        port: 0,
        db: { url: 'postgres://bodhi:hunter22@127.0.0.1:1/sessions_db' },
        provider: UNREACHABLE_PROVIDER,
        logLevel: 'info',
      }),
    );
    server.start();
    const code = await server.waitForExit();
    home.remove();
    const output = server.output(Infinity);
    expect(code).not.toBe(0);
    expect(output).not.toContain('hunter22');
    // One line, not a stack dump: boot logs are only printed once boot succeeds. In production
    // (BODHI_LOG_FORMAT's default there) it is a JSON line, as every other line is.
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 60,
      msg: expect.stringMatching(
        /^Bodhi server failed to start: Cannot open session database \(PostgreSQL 127\.0\.0\.1:1\/sessions_db\)/,
      ),
    });
  });
});
