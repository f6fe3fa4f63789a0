import {
  BodhiClient,
  DEMO_USER,
  Exposition,
  PrivatePostgres,
  PrivateStack,
  scrapeMetrics,
  Stack,
  startStackOnPrivatePostgres,
  until,
  untilReading,
} from '@bodhi/testing';

/** Where a counter or histogram stood at one scrape, against the next. */
const moved = (before: Exposition, after: Exposition, name: string, labels = {}) =>
  after.sum(name, labels) - before.sum(name, labels);

describe('/metrics on a real stack (BODHI_METRICS=on, PostgreSQL)', () => {
  let pg: PrivatePostgres;
  let stack: Stack;
  let env: PrivateStack;

  beforeAll(async () => {
    // Short access tokens: the session's next request after expiry refreshes.
    env = await startStackOnPrivatePostgres({
      accessTokenTtlSeconds: 2,
      env: { BODHI_METRICS: 'on' },
    });
    ({ pg, stack } = env);
  }, 120_000);
  afterAll(() => env?.stop(), 120_000);

  it('counts a login, a refresh, a store outage and a logout', async () => {
    const browser = new BodhiClient(stack.servers[0].url);
    const scrape = () => scrapeMetrics(`${stack.servers[0].url}/metrics`);

    const start = await scrape();
    expect(start.sum('process_cpu_seconds_total')).toBeGreaterThan(0);
    for (const state of ['in_use', 'idle', 'waiting']) {
      expect(start.samples).toContainEqual({
        name: 'bodhi_session_db_pool_connections',
        labels: { state },
        value: expect.any(Number),
      });
    }

    await browser.login(DEMO_USER.username, DEMO_USER.password);
    const loggedIn = await scrape();
    expect(moved(start, loggedIn, 'bodhi_logins_total', { outcome: 'success' })).toBe(1);
    const storeGets = { operation: 'get', backend: 'postgres' };
    expect(
      moved(start, loggedIn, 'bodhi_session_store_operation_duration_seconds_count', storeGets),
    ).toBeGreaterThan(0);
    // The pool has opened connections to the store by now.
    expect(loggedIn.sum('bodhi_session_db_pool_connections')).toBeGreaterThan(0);
    expect(loggedIn.sum('process_cpu_seconds_total')).toBeGreaterThan(
      start.sum('process_cpu_seconds_total'),
    );

    const sid = browser.sessionId();
    await stack.untilAccessTokenExpired(sid);
    expect((await browser.user()).body).toMatchObject({ auth_status: 'logged_in' });
    const refreshed = await scrape();
    expect(moved(loggedIn, refreshed, 'bodhi_token_refreshes_total')).toBe(1);
    expect(
      moved(loggedIn, refreshed, 'bodhi_token_refreshes_total', { outcome: 'refreshed' }),
    ).toBe(1);
    expect(moved(loggedIn, refreshed, 'bodhi_token_refresh_lock_wait_seconds_count')).toBe(1);

    await pg.pause();
    expect((await browser.user()).status).toBe(503);
    await pg.resume();
    // The pool reconnects by itself; the session is still there.
    await until(async () => (await browser.user()).status === 200, 10_000);
    const recovered = await scrape();
    expect(
      moved(refreshed, recovered, 'bodhi_session_store_errors_total', { kind: 'unavailable' }),
    ).toBeGreaterThan(0);

    await browser.logout();
    const revokedSince = (from: Exposition, to: Exposition, outcome: string) =>
      moved(from, to, 'bodhi_revocations_total', { reason: 'logout', outcome });
    // The session ended here, and its refresh token revoked at the provider, in the
    // background: the first scrape to show it.
    const loggedOut = await untilReading(
      scrape,
      (reading) => revokedSince(recovered, reading, 'revoked') > 0,
    );
    const logout = (outcome: string) => revokedSince(recovered, loggedOut, outcome);
    expect([logout('ended'), logout('revoked')]).toEqual([1, 1]);
    expect(moved(recovered, loggedOut, 'bodhi_logins_total')).toBe(0);
  });
});
