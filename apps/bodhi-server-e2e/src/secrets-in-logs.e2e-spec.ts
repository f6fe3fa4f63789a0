import {
  BodhiClient,
  CLIENT_SECRET,
  DEMO_USER,
  PrivatePostgres,
  PrivateStack,
  Stack,
  startStackOnPrivatePostgres,
  TEST_SECRET,
} from '@bodhi/testing';

const DB_PASSWORD = 'db-pw-Zq7x9Lm2';

describe('secrets never reach the logs', () => {
  let pg: PrivatePostgres;
  let stack: Stack;
  let env: PrivateStack;

  beforeAll(async () => {
    env = await startStackOnPrivatePostgres(
      { accessTokenTtlSeconds: 2, logLevel: 'trace' },
      DB_PASSWORD,
    );
    ({ pg, stack } = env);
  }, 120_000);
  afterAll(() => env?.stop(), 120_000);

  it('a full login, refresh, outage and logout logs no token, cookie, secret or password', async () => {
    const browser = new BodhiClient(stack.servers[0].url);
    await browser.login(DEMO_USER.username, DEMO_USER.password);
    const cookie = browser.cookie as string;
    const sid = browser.sessionId() as string;
    const before = (await stack.session(sid)) ?? {};

    await stack.untilAccessTokenExpired(sid);
    expect((await browser.user()).body).toMatchObject({ auth_status: 'logged_in' }); // refreshed
    const after = (await stack.session(sid)) ?? {};
    expect(after.access_token).not.toBe(before.access_token);

    await pg.pause();
    expect((await browser.user()).status).toBe(503);
    await pg.resume();
    await browser.logout();

    const log = stack.servers[0].output(Infinity);
    expect(log.length).toBeGreaterThan(0);
    const secrets = {
      'access token': before.access_token,
      'refreshed access token': after.access_token,
      'refresh token': before.refresh_token,
      'rotated refresh token': after.refresh_token,
      'session id': sid,
      'cookie value': decodeURIComponent(cookie.split('=')[1]),
      'cookie secret': TEST_SECRET,
      'client secret': CLIENT_SECRET,
      'database password': DB_PASSWORD,
    };
    for (const [name, secret] of Object.entries(secrets)) {
      expect(typeof secret === 'string' && secret.length > 8 ? name : `${name} missing`).toBe(name);
      expect({ [name]: log.includes(secret as string) }).toEqual({ [name]: false });
    }
  });
});
