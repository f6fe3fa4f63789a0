import { BodhiClient, SESSION_BACKENDS, Stack, startStack } from '@bodhi/testing';

const LIMIT = 3;
const WINDOW_SECONDS = 3600;

describe.each(SESSION_BACKENDS)('auth rate limits on %s', (backend) => {
  let stack: Stack;
  let url: string;

  beforeAll(async () => {
    stack = await startStack({
      backend,
      env: {
        BODHI_AUTH_RATE_LIMIT: String(LIMIT),
        BODHI_AUTH_RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS),
      },
    });
    url = stack.servers[0].url;
  });
  afterAll(() => stack?.stop());

  /** `LIMIT` + 1 anonymous POSTs to `path` from 127.0.0.1; the last one's answer. */
  async function overTheLimit(path: string, allowed: number) {
    for (let i = 0; i < LIMIT; i++) {
      expect((await new BodhiClient(url).post(path)).status).toBe(allowed);
    }
    const rowsBefore = (await stack.rows()).length;
    const refused = await new BodhiClient(url).post(path);
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
    await overTheLimit('/bodhi/v1/auth/initiate', 201);
    expect((await stack.rows()).length).toBe(rowsBefore + LIMIT);
  });

  // Each route counts on its own: initiate is refused by now, callback and logout are not yet.
  it('callback has a count of its own', async () => {
    expect((await new BodhiClient(url).post('/bodhi/v1/auth/initiate')).status).toBe(429);
    await overTheLimit('/bodhi/v1/auth/callback', 400);
  });

  it('logout has a count of its own', () => overTheLimit('/bodhi/v1/logout', 200));
});
