import { loginThroughForm } from '@bodhi/dev-auth-server/testing';
import {
  type ApiResponse,
  BodhiClient,
  DEMO_USER,
  providerStats,
  SESSION_BACKENDS,
  Stack,
  startStack,
} from '@bodhi/testing';

const ACCESS_TOKEN_TTL_SECONDS = 2;
const CALLBACK = '/bodhi/v1/auth/callback';

type Initiated = ApiResponse<{ location: string }>;

const stateOf = (initiated: Initiated) =>
  new URL(initiated.body.location).searchParams.get('state');

/** What the provider redirects with once the user logs in to the login `initiated` began. */
async function providerAnswer(initiated: Initiated): Promise<Record<string, string>> {
  expect(initiated.status).toBe(201);
  const redirect = await loginThroughForm({
    authorizationUrl: initiated.body.location,
    ...DEMO_USER,
  });
  return Object.fromEntries(redirect.searchParams);
}

/**
 * Three callbacks with one code and one cookie, sent together to `urls` in turn: exactly one
 * logs in, the others answer 409; the provider saw exactly one exchange of the code (its
 * counters include refused grants), and the login survives its first refresh (had the code
 * been exchanged twice, the provider would have revoked the grant, and the refresh would fail).
 */
async function raceCallbacks(stack: Stack, urls: string[]): Promise<void> {
  const browser = new BodhiClient(urls[0]);
  const answer = await providerAnswer(
    await browser.post<{ location: string }>('/bodhi/v1/auth/initiate'),
  );
  const tabs = [0, 1, 2].map((i) => browser.on(urls[i % urls.length]));
  const exchanges = async () => {
    const { grants, failed_grants } = await providerStats(stack.client);
    return (grants.authorization_code ?? 0) + (failed_grants.authorization_code ?? 0);
  };
  const exchangesBefore = await exchanges();
  const answers = await Promise.all(tabs.map((tab) => tab.post(CALLBACK, answer)));
  expect((await exchanges()) - exchangesBefore).toBe(1);

  expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409]);
  for (const refused of answers.filter((a) => a.status === 409)) {
    expect(refused.body).toEqual({
      error: {
        type: 'conflict_error',
        code: 'login_already_completed',
        message: expect.any(String),
      },
    });
  }
  const winner = tabs[answers.findIndex((a) => a.status === 200)];
  const grantsBefore = await stack.refreshGrants();
  await stack.untilAccessTokenExpired(winner.sessionId());
  const user = await winner.user();
  expect({ status: user.status, body: user.body }).toMatchObject({
    status: 200,
    body: { auth_status: 'logged_in', username: DEMO_USER.username },
  });
  expect((await stack.refreshGrants()) - grantsBefore).toBe(1);
}

describe.each(SESSION_BACKENDS)('racing logins on %s', (backend) => {
  let stack: Stack;
  let url: string;

  beforeAll(async () => {
    stack = await startStack({ backend, accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS });
    url = stack.servers[0].url;
  });
  afterAll(() => stack?.stop());

  it('three concurrent callbacks with one code: one login, which survives a refresh; two 409', () =>
    raceCallbacks(stack, [url]));

  it.each(['the earlier', 'the later'])(
    'two initiates race on one session: the later logs in, the earlier is a 400 (%s callback first)',
    async (first) => {
      const browser = new BodhiClient(url);
      await browser.post('/bodhi/v1/auth/initiate');
      // Both on the one session (cookie) the first initiate made.
      const both = await Promise.all(
        [0, 1].map(() => browser.on(url).post<{ location: string }>('/bodhi/v1/auth/initiate')),
      );
      const stored = (await stack.session(browser.sessionId()))?.oauth_state;
      const [later, earlier] = stateOf(both[0]) === stored ? both : [both[1], both[0]];
      expect(stateOf(later)).toBe(stored);
      const [laterAnswer, earlierAnswer] = await Promise.all([later, earlier].map(providerAnswer));

      if (first === 'the earlier') {
        const refused = await browser.on(url).post(CALLBACK, earlierAnswer);
        expect({ status: refused.status, body: refused.body }).toMatchObject({
          status: 400,
          body: { error: { code: 'state_mismatch' } },
        });
        expect((await browser.on(url).post(CALLBACK, laterAnswer)).status).toBe(200);
      } else {
        expect((await browser.on(url).post(CALLBACK, laterAnswer)).status).toBe(200);
        // The login's session is gone (a new id at login): the old cookie starts nothing.
        const refused = await browser.on(url).post(CALLBACK, earlierAnswer);
        expect(refused.status).toBe(400);
      }
    },
  );
});

describe('racing logins on a cluster of two servers', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      backend: 'postgres',
      servers: 2,
      accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS,
    });
  });
  afterAll(() => stack?.stop());

  it('three concurrent callbacks with one code split over both servers: one login, two 409', () =>
    raceCallbacks(
      stack,
      stack.servers.map((s) => s.url),
    ));
});
