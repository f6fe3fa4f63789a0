import {
  DEFAULT_AUTH_RATE_LIMIT,
  DEFAULT_SESSION_LOGIN_TTL_SECONDS,
} from '@bodhi/services/testing';
import {
  type ApiResponse,
  BodhiClient,
  DEMO_USER,
  SERVER_DEFAULT_AUTH_RATE_LIMIT,
  SESSION_BACKENDS,
  Stack,
  startStack,
} from '@bodhi/testing';

const LIMIT = 3;
const WINDOW_SECONDS = 3600;

/**
 * A request from client address `ip`, as the proxy in front of the server (trusted: the
 * stack's BODHI_TRUST_PROXY) reports it. Each test sends from an address of its own, so its
 * counts start at zero whatever the tests before it sent.
 */
const from = (ip: string) => ({ 'x-forwarded-for': ip });

/** The session rows' expiry, read past the server. */
const expiries = (stack: Stack) =>
  stack.db.query<{ id: string; expires_at: string }>(
    `SELECT id, expires_at FROM ${stack.db.qualifiedTable} ORDER BY id`,
  );

describe.each(SESSION_BACKENDS)('auth rate limits on %s', (backend) => {
  let stack: Stack;
  let url: string;

  beforeAll(async () => {
    stack = await startStack({
      backend,
      env: {
        BODHI_AUTH_RATE_LIMIT: String(LIMIT),
        BODHI_AUTH_RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS),
        BODHI_TRUST_PROXY: 'loopback',
      },
    });
    url = stack.servers[0].url;
  });
  afterAll(() => stack?.stop());

  /** `LIMIT` anonymous POSTs to `path` from `ip` answering `allowed`; then the refused one's checks. */
  async function overTheLimit(path: string, allowed: number, ip: string) {
    for (let i = 0; i < LIMIT; i++) {
      expect((await new BodhiClient(url).post(path, {}, from(ip))).status).toBe(allowed);
    }
    const rowsBefore = (await stack.rows()).length;
    const refused = await new BodhiClient(url).post(path, {}, from(ip));
    expect({ status: refused.status, body: refused.body }).toEqual({
      status: 429,
      body: {
        error: { type: 'rate_limit_error', code: 'too_many_requests', message: expect.any(String) },
      },
    });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
    // Refused before the route: no session made, no cookie sent.
    expect(refused.headers.getSetCookie()).toEqual([]);
    expect((await stack.rows()).length).toBe(rowsBefore);
  }

  it(`initiate: ${LIMIT} from one address, then 429 with Retry-After and no session`, async () => {
    const rowsBefore = (await stack.rows()).length;
    await overTheLimit('/bodhi/v1/auth/initiate', 201, '10.0.0.1');
    expect((await stack.rows()).length).toBe(rowsBefore + LIMIT);
  });

  it('callback has a count of its own', async () => {
    await overTheLimit('/bodhi/v1/auth/initiate', 201, '10.0.0.2');
    // Initiate is refused from this address by now, callback is not yet.
    await overTheLimit('/bodhi/v1/auth/callback', 400, '10.0.0.2');
  });

  it('logout has a count of its own', () => overTheLimit('/bodhi/v1/logout', 200, '10.0.0.3'));

  it('a refused logout carrying a login changes nothing: no cookie, the row as it was, still logged in', async () => {
    const browser = new BodhiClient(url);
    await browser.login(DEMO_USER.username, DEMO_USER.password);
    await overTheLimit('/bodhi/v1/logout', 200, '10.0.0.4');
    const before = await expiries(stack);

    const refused = await browser.post('/bodhi/v1/logout', {}, from('10.0.0.4'));
    expect(refused.status).toBe(429);
    // Neither touched nor saved: no rolling cookie, the row's expiry unmoved.
    expect(refused.headers.getSetCookie()).toEqual([]);
    expect(await expiries(stack)).toEqual(before);
    expect((await browser.user()).body).toMatchObject({ auth_status: 'logged_in' });
  });
});

/** `count` calls of `send`, `concurrency` at a time; their answers. */
async function flood(
  count: number,
  concurrency: number,
  send: () => Promise<ApiResponse>,
): Promise<ApiResponse[]> {
  const answers: ApiResponse[] = [];
  let sent = 0;
  const sender = async () => {
    while (sent < count) {
      sent++;
      answers.push(await send());
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  return answers;
}

describe.each(SESSION_BACKENDS)("the issue's flood at the shipped limit on %s", (backend) => {
  let stack: Stack;

  beforeAll(async () => {
    // The shipped limit, over a window no run outlasts: on a slow machine a 60 s window
    // could reset mid-flood and admit a second 30.
    stack = await startStack({
      backend,
      env: {
        ...SERVER_DEFAULT_AUTH_RATE_LIMIT,
        BODHI_AUTH_RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS),
      },
    });
  });
  afterAll(() => stack?.stop());

  it(`1000 anonymous initiates from one address: ${DEFAULT_AUTH_RATE_LIMIT} are 201, the rest 429 with Retry-After; no more rows than logins begun`, async () => {
    const url = stack.servers[0].url;
    const idsBefore = new Set((await expiries(stack)).map((row) => row.id));
    const answers = await flood(1000, 50, () =>
      new BodhiClient(url).post('/bodhi/v1/auth/initiate'),
    );

    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(DEFAULT_AUTH_RATE_LIMIT);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(1000 - DEFAULT_AUTH_RATE_LIMIT);
    for (const answer of refused) {
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    const added = (await expiries(stack)).filter((row) => !idsBefore.has(row.id));
    expect(added.length).toBeLessThanOrEqual(DEFAULT_AUTH_RATE_LIMIT);
    // Unfinished logins, each stored to end within the login TTL of its write (all before now).
    const latest = Date.now() + DEFAULT_SESSION_LOGIN_TTL_SECONDS * 1000;
    for (const row of added) expect(Number(row.expires_at)).toBeLessThanOrEqual(latest);
  });
});
