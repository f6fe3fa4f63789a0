import {
  BodhiClient,
  DEMO_USER,
  serverEnv,
  ServerProcess,
  SqliteLockHolder,
  Stack,
  startStack,
  tempHome,
  TEST_SECRET,
  tracked,
  type TempHome,
} from '@bodhi/testing';

/** The server's debug line when a session write first finds the file locked, and when it lands. */
const WRITE_WAITS = /INSERT "sessions" waits for the SQLite lock/;
const WRITE_RAN = /INSERT "sessions" ran after waiting \d+ ms for the SQLite lock/;

/**
 * Another process holds the SQLite file's write lock (BEGIN IMMEDIATE: a backup, the admin
 * CLI, a second server on the same file). Writes wait for it without stopping the server:
 * liveness, health and requests that only read their session keep answering, and a write
 * that waits past BODHI_SESSION_DB_BUSY_TIMEOUT_MS answers 503.
 */
describe('a SQLite file write-locked by another process', () => {
  let stack: Stack;
  let file: string;
  let holder: SqliteLockHolder | undefined;

  beforeAll(async () => {
    // A budget beyond the test's run: only the release ends a write's wait. Debug logs: the
    // line saying a write waits for the lock is the signal the test orders its requests by.
    stack = await startStack({
      backend: 'sqlite',
      logLevel: 'debug',
      env: { BODHI_SESSION_DB_BUSY_TIMEOUT_MS: '600000' },
    });
    file = stack.db.url.slice('sqlite:'.length);
  });
  afterEach(async () => {
    await holder?.release();
    holder = undefined;
  });
  afterAll(() => stack?.stop());

  it('keeps answering ping, health and a logged-in read while a login waits, which lands on release', async () => {
    const server = stack.servers[0];
    const user = new BodhiClient(server.url);
    await user.login(DEMO_USER.username, DEMO_USER.password);

    holder = await SqliteLockHolder.hold(file);
    const from = server.outputLength;
    const initiate = tracked(new BodhiClient(server.url).post('/bodhi/v1/auth/initiate'));
    // The server says the initiate's session write found the file locked and waits for it.
    // SQLite's own busy wait (the old code) would hold the event loop instead, logging
    // nothing until the write had failed, and every ping below would wait behind it.
    await server.waitForOutput(WRITE_WAITS, { from });

    // The lock stays held across all of these; each answers while the write still waits.
    for (let i = 0; i < 10; i++) {
      expect((await user.get('/bodhi/v1/ping')).status).toBe(200);
      expect(initiate.settled).toBe(false);
    }
    const health = await user.get('/bodhi/v1/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ info: { session_store: { status: 'up' } } });
    const me = await user.user();
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ auth_status: 'logged_in', username: DEMO_USER.username });
    expect(initiate.settled).toBe(false);
    expect(server.output(Infinity).slice(from)).not.toMatch(WRITE_RAN);

    await holder.release();
    const initiated = await initiate.work;
    expect(initiated.status).toBe(201);
    expect(initiated.body.location).toEqual(expect.any(String));
    await server.waitForOutput(WRITE_RAN, { from });
  });

  describe('with a short busy budget (a second server on the same file)', () => {
    let server: ServerProcess;
    let home: TempHome;

    beforeAll(async () => {
      home = tempHome('bodhi-e2e-home-');
      server = new ServerProcess(
        serverEnv({
          home: home.dir,
          port: 0,
          provider: stack.client,
          db: stack.db,
          secret: TEST_SECRET,
          logLevel: 'warn',
          env: { BODHI_ENV_TYPE: 'development', BODHI_SESSION_DB_BUSY_TIMEOUT_MS: '200' },
        }),
        {
          name: 'bodhi-server-short-budget',
          onListening: (url) => stack.idp.registerRedirectUri(url),
        },
      );
      await server.up();
    });
    afterAll(async () => {
      await server?.stop();
      home?.remove();
    });

    it('answers a login 503 in the error shape, writing nothing, once the budget has passed', async () => {
      const before = (await stack.rows()).length;
      holder = await SqliteLockHolder.hold(file);
      const browser = new BodhiClient(server.url);
      const res = await browser.post('/bodhi/v1/auth/initiate');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        error: {
          type: 'service_unavailable',
          code: 'session_store_unavailable',
          message: expect.any(String),
        },
      });
      expect(browser.cookie).toBeUndefined();
      await holder.release();
      expect((await stack.rows()).length).toBe(before);
      // The lock gone, the same request succeeds.
      expect((await browser.post('/bodhi/v1/auth/initiate')).status).toBe(201);
    });
  });
});
