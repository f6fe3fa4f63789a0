import { sessionKey } from '@bodhi/services';
import { BodhiClient, DEMO_USER, SESSION_BACKENDS, Stack, startStack } from '@bodhi/testing';

/** Short enough to notice, long enough that real time never ends a session during a test. */
const MAX_LIFETIME_SECONDS = 600;
const LOGIN_TTL_SECONDS = 60;
const INITIATES = 1000;

/**
 * The absolute lifetime and the login TTL against the real server. Time is not waited for:
 * the session row's own clock (created_at, expires_at) is moved back with SQL, as if those
 * minutes had passed, and the server's next answer says what it made of that.
 */
describe.each(SESSION_BACKENDS)('session lifetime on %s', (backend) => {
  let stack: Stack;
  let url: string;

  beforeAll(async () => {
    stack = await startStack({
      backend,
      env: {
        BODHI_SESSION_MAX_LIFETIME_SECONDS: String(MAX_LIFETIME_SECONDS),
        BODHI_SESSION_LOGIN_TTL_SECONDS: String(LOGIN_TTL_SECONDS),
        // Every request writes its expiry: the busiest a session can be.
        BODHI_SESSION_TOUCH_AFTER_SECONDS: '0',
        // The flood below is about what the rows live, not about being refused.
        BODHI_AUTH_RATE_LIMIT: '0',
      },
    });
    url = stack.servers[0].url;
  });
  afterAll(() => stack?.stop());

  const times = async (sid: string) => {
    const [row] = await stack.db.query<{ created_at: string; expires_at: string }>(
      `SELECT created_at, expires_at FROM ${stack.db.qualifiedTable} WHERE id = $1`,
      [sessionKey(sid)],
    );
    return { createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) };
  };
  /** As if `ms` had passed since the session's every write. */
  const age = (sid: string, column: 'created_at' | 'both', ms: number) =>
    stack.db.query(
      `UPDATE ${stack.db.qualifiedTable} SET created_at = created_at - $1` +
        (column === 'both' ? ', expires_at = expires_at - $1' : '') +
        ' WHERE id = $2',
      [ms, sessionKey(sid)],
    );

  it('a logged-in session kept busy is refused once its lifetime is over', async () => {
    const client = new BodhiClient(url);
    await client.login(DEMO_USER.username, DEMO_USER.password);
    const sid = client.sessionId() as string;
    // The login's save (a new session: the lifetime starts at the login).
    const atLogin = await times(sid);
    expect(atLogin.expiresAt).toBeLessThanOrEqual(atLogin.createdAt + MAX_LIFETIME_SECONDS * 1000);

    // Logged in 10 minutes less 5 seconds ago, and busy since: this request still counts…
    await age(sid, 'created_at', (MAX_LIFETIME_SECONDS - 5) * 1000);
    expect((await client.user()).body).toMatchObject({ auth_status: 'logged_in' });
    // …and its write ends the session at the lifetime, not a TTL from now.
    const busy = await times(sid);
    expect(busy.expiresAt).toBe(busy.createdAt + MAX_LIFETIME_SECONDS * 1000);

    // Five seconds later, as far as the row can tell: over, however busy it was.
    await age(sid, 'both', 5000);
    expect((await client.user()).body).toMatchObject({ auth_status: 'logged_out' });
  });

  it("the cookie of a login in progress lives the login TTL; the logged-in session's lives the session TTL", async () => {
    /** How long the cookie set by `response` lives, by the server's own clock (its Date). */
    const cookieLifetime = (response: { headers: Headers }) => {
      const [cookie] = response.headers.getSetCookie();
      const expires = /expires=([^;]+)/i.exec(cookie ?? '')?.[1];
      return Date.parse(expires ?? '') - Date.parse(response.headers.get('date') ?? '');
    };
    const client = new BodhiClient(url);
    const initiate = await client.post('/bodhi/v1/auth/initiate');
    expect(initiate.status).toBe(201);
    // Whole seconds on both headers: at most a second either way.
    expect(Math.abs(cookieLifetime(initiate) - LOGIN_TTL_SECONDS * 1000)).toBeLessThanOrEqual(1000);
    await client.login(DEMO_USER.username, DEMO_USER.password);
    expect(cookieLifetime(await client.user())).toBeGreaterThan(LOGIN_TTL_SECONDS * 1000 + 1000);
  });

  it(`${INITIATES} anonymous initiates leave no row living longer than the login TTL`, async () => {
    const before = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: INITIATES }, async () => {
        return (await new BodhiClient(url).post('/bodhi/v1/auth/initiate', {})).status;
      }),
    );
    expect(statuses.every((s) => s === 201)).toBe(true);
    const rows = await stack.db.query<{ expires_at: string }>(
      `SELECT expires_at FROM ${stack.db.qualifiedTable} WHERE user_id IS NULL AND expires_at > $1`,
      [before],
    );
    expect(rows.length).toBeGreaterThanOrEqual(INITIATES);
    const latest = Math.max(...rows.map((r) => Number(r.expires_at)));
    expect(latest).toBeLessThanOrEqual(Date.now() + LOGIN_TTL_SECONDS * 1000);
  });
});
