import {
  BodhiClient,
  deferred,
  DEMO_ADMIN,
  DEMO_USER,
  SESSION_BACKENDS,
  Stack,
  startStack,
} from '@bodhi/testing';

/** Logins acknowledged before the kill that the test waits for (the kill comes with the last). */
const LOGINS_BEFORE_KILL = 12;
const LOGIN_LOOPS = 4;
const WRITE_LOOPS = 6;

describe.each(SESSION_BACKENDS)('a crash under load on %s', (backend) => {
  let stack: Stack;

  beforeAll(async () => {
    // Every request writes its session's expiry (no touch-after), so session writes are in
    // flight whenever a request is.
    stack = await startStack({ backend, env: { BODHI_SESSION_TOUCH_AFTER_SECONDS: '0' } });
  });
  afterAll(() => stack?.stop());

  it('keeps every acknowledged login across a SIGKILL while logins and session writes are in flight', async () => {
    // Clients are given the server itself: they follow it to the port it binds after the restart.
    const server = stack.servers[0];
    /** Requests sent to the server whose answer has not arrived. */
    let outstanding = 0;
    const tracked = async <T>(work: () => Promise<T>): Promise<T> => {
      outstanding++;
      try {
        return await work();
      } finally {
        outstanding--;
      }
    };

    const writers: BodhiClient[] = [];
    for (let i = 0; i < WRITE_LOOPS; i++) {
      const writer = new BodhiClient(server);
      await writer.login(DEMO_USER.username, DEMO_USER.password);
      writers.push(writer);
    }

    let running = true;
    const acknowledged: BodhiClient[] = [];
    let loginsInFlight = 0;
    let atKill: { outstanding: number; loginsInFlight: number } | undefined;
    const killed = deferred();

    // Clients logging in over and over, each login a new browser (initiate, the provider's
    // form, callback: two session writes at the server). The login that completes the
    // count triggers the kill at once, while the other loops are mid-login.
    const loginLoops = Array.from({ length: LOGIN_LOOPS }, async (_, i) => {
      const user = i % 2 ? DEMO_ADMIN : DEMO_USER;
      while (running) {
        const browser = new BodhiClient(server);
        loginsInFlight++;
        try {
          await tracked(() => browser.login(user.username, user.password));
        } catch {
          continue; // a login the kill interrupted: never acknowledged, so owed nothing
        } finally {
          loginsInFlight--;
        }
        acknowledged.push(browser);
        if (acknowledged.length === LOGINS_BEFORE_KILL) {
          atKill = { outstanding, loginsInFlight };
          running = false;
          killed.resolve(server.stop('SIGKILL'));
        }
      }
    });
    // Logged-in clients reading their sessions, each read writing the expiry.
    const writeLoops = writers.map(async (writer) => {
      while (running) await tracked(() => writer.user()).catch(() => undefined);
    });

    await killed.promise;
    await Promise.all([...loginLoops, ...writeLoops]);
    // The kill really came with work in flight: session writes of every writer, other logins.
    expect(atKill?.outstanding).toBeGreaterThanOrEqual(WRITE_LOOPS);
    expect(atKill?.loginsInFlight).toBeGreaterThanOrEqual(1);

    await server.restart();
    for (const browser of [...acknowledged, ...writers]) {
      expect((await browser.user()).body).toMatchObject({ auth_status: 'logged_in' });
    }
  });
});
