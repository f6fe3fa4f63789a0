import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  buildAuthorizationUrl,
  createPkcePair,
  loginThroughForm,
} from '@bodhi/dev-auth-server/testing';
import { BODHI_HOME, BODHI_SESSION_ENCRYPTION_KEYS, sessionKey } from '@bodhi/services';
import {
  BodhiClient,
  DEMO_ADMIN,
  DEMO_USER,
  SESSION_BACKENDS,
  Stack,
  startStack,
  tokenRequest,
  untilNextSecond,
} from '@bodhi/testing';

const ACCESS_TOKEN_TTL_SECONDS = 2;

/** The tokens a logged-in agent's session holds, read from the database past the server. */
async function tokensOf(stack: Stack, agent: BodhiClient) {
  const session = await stack.session(agent.sessionId());
  const accessToken = session?.access_token;
  const refreshToken = session?.refresh_token;
  if (typeof accessToken !== 'string' || typeof refreshToken !== 'string')
    throw new Error('the session holds no tokens');
  return { accessToken, refreshToken };
}

const asBearer = (url: string, token: string) =>
  new BodhiClient(url).get('/bodhi/v1/user', { authorization: `Bearer ${token}` });

describe.each(SESSION_BACKENDS)('ending a session ends its access on %s', (backend) => {
  let stack: Stack;
  let url: string;

  beforeAll(async () => {
    stack = await startStack({ backend, accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS });
    url = stack.servers[0].url;
  });
  afterAll(() => stack?.stop());

  it('after logout the access token is refused as a bearer and the refresh token at the provider', async () => {
    const agent = new BodhiClient(url);
    await agent.login(DEMO_USER.username, DEMO_USER.password);
    const { accessToken, refreshToken } = await tokensOf(stack, agent);
    expect((await asBearer(url, accessToken)).body).toMatchObject({ auth_status: 'api_token' });

    expect((await agent.logout()).status).toBe(200);

    const replay = await asBearer(url, accessToken);
    expect(replay.status).toBe(401);
    expect(replay.body).toMatchObject({ error: { code: 'token_revoked' } });
    const refresh = await tokenRequest(stack.client, {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
    });
    expect(refresh.status).toBe(400);
    expect(refresh.body).toMatchObject({ error: 'invalid_grant' });
  });

  it('accepts only access tokens issued to this server for a user', async () => {
    const agent = new BodhiClient(url);
    await agent.login(DEMO_USER.username, DEMO_USER.password);
    const { accessToken } = await tokensOf(stack, agent);
    expect((await asBearer(url, accessToken)).status).toBe(200);

    // The provider's own tokens of the same client that are not user access tokens.
    const clientCredentials = await tokenRequest(stack.client, {
      grant_type: 'client_credentials',
    });
    const ccToken = String(clientCredentials.body.access_token);
    expect((await asBearer(url, ccToken)).body).toMatchObject({
      error: { code: 'invalid_token' },
    });

    const redirectUri = `${url}/ui/auth/callback`;
    const { codeVerifier, codeChallenge } = createPkcePair();
    const redirect = await loginThroughForm({
      authorizationUrl: buildAuthorizationUrl({
        issuer: stack.client.issuer,
        clientId: stack.client.clientId,
        redirectUri,
        state: 'id-token-test',
        codeChallenge,
      }),
      username: DEMO_USER.username,
      password: DEMO_USER.password,
    });
    const exchanged = await tokenRequest(stack.client, {
      grant_type: 'authorization_code',
      code: String(redirect.searchParams.get('code')),
      redirect_uri: redirectUri,
      code_verifier: codeVerifier,
    });
    const idToken = String(exchanged.body.id_token);
    expect(idToken.split('.')).toHaveLength(3);
    const answer = await asBearer(url, idToken);
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ error: { code: 'invalid_token' } });
  });

  it('keeps no token readable in the database after a login, a refresh and a logout', async () => {
    const agent = new BodhiClient(url);
    await agent.login(DEMO_USER.username, DEMO_USER.password);
    const first = await tokensOf(stack, agent);
    await stack.untilAccessTokenExpired(agent.sessionId());
    expect((await agent.user()).body).toMatchObject({ auth_status: 'logged_in' });
    const refreshed = await tokensOf(stack, agent);
    expect(refreshed.accessToken).not.toBe(first.accessToken);
    const tokens = [
      first.accessToken,
      first.refreshToken,
      refreshed.accessToken,
      refreshed.refreshToken,
    ];
    const sid = agent.sessionId() as string;
    const beforeLogout = await stack.rows();
    expect(beforeLogout.map((r) => r.id)).toContain(sessionKey(sid));
    expect(JSON.stringify(beforeLogout)).not.toContain(sid);

    expect((await agent.logout()).status).toBe(200);

    if (backend === 'sqlite') {
      const file = stack.db.url.slice('sqlite:'.length);
      for (const part of [file, `${file}-wal`, `${file}-shm`]) {
        expect({ part, mode: fs.statSync(part).mode & 0o777 }).toEqual({ part, mode: 0o600 });
        const bytes = fs.readFileSync(part);
        for (const token of tokens) expect(bytes.includes(token)).toBe(false);
        expect(bytes.includes(sid)).toBe(false);
      }
    } else {
      // Every table the store keeps, the session table's companions included.
      const tables = await stack.db.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
        [stack.db.schema],
      );
      expect(tables.length).toBeGreaterThanOrEqual(4);
      for (const { table_name } of tables) {
        const rows = await stack.db.query(`SELECT * FROM "${stack.db.schema}"."${table_name}"`);
        const text = JSON.stringify(rows);
        for (const token of tokens) expect(text.includes(token)).toBe(false);
        expect(text.includes(sid)).toBe(false);
      }
    }
  });
});

describe('a standalone server without BODHI_SESSION_ENCRYPTION_KEYS', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      backend: 'sqlite',
      logLevel: 'info',
      env: { [BODHI_SESSION_ENCRYPTION_KEYS]: undefined },
    });
  });
  afterAll(() => stack?.stop());

  it('encrypts with a key it generates once into BODHI_HOME (mode 600), and warns of nothing', async () => {
    const server = stack.servers[0];
    const agent = new BodhiClient(server.url);
    await agent.login(DEMO_USER.username, DEMO_USER.password);
    const [row] = await stack.rows();
    expect(row.data.startsWith('enc:v1:')).toBe(true);
    const keyFile = path.join(String(server.env[BODHI_HOME]), 'session_encryption_key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'base64')).toHaveLength(32);
    expect(server.output(100_000)).toContain('Generated a session encryption key');
    expect(server.output(100_000)).not.toMatch(/unencrypted/i);
    expect((await agent.user()).body).toMatchObject({ auth_status: 'logged_in' });
  });
});

describe('the demotion attack on a cluster of two servers', () => {
  let stack: Stack;
  let a: string;
  let b: string;

  beforeAll(async () => {
    stack = await startStack({ backend: 'postgres', servers: 2 });
    [a, b] = stack.servers.map((s) => s.url);
  });
  afterAll(() => stack?.stop());

  it("a demoted admin's old bearer is refused at once on both servers and cannot promote itself back", async () => {
    const admin = new BodhiClient(a);
    await admin.login(DEMO_ADMIN.username, DEMO_ADMIN.password);
    // A second admin: the demo user, promoted, logged in again to carry the role.
    const victim = new BodhiClient(b);
    await victim.login(DEMO_USER.username, DEMO_USER.password);
    const userId = (await victim.user()).body.user_id as string;
    const role = (value: string, by: BodhiClient, headers?: Record<string, string>) =>
      by.request('PUT', `/bodhi/v1/users/${userId}/role`, { role: value }, headers);
    expect((await role('resource_admin', admin)).status).toBe(200);
    // The promotion revoked the user's earlier tokens too; a bearer of the same second
    // would count as earlier.
    await untilNextSecond();
    await victim.login(DEMO_USER.username, DEMO_USER.password);
    const { accessToken, refreshToken } = await tokensOf(stack, victim);
    for (const server of [a, b]) {
      expect((await asBearer(server, accessToken)).body).toMatchObject({
        auth_status: 'api_token',
        role: 'resource_admin',
      });
    }

    const demotion = await role('resource_user', admin);
    expect(demotion.body).toMatchObject({ role: 'resource_user', sessions_cleared: 1 });

    for (const server of [a, b]) {
      const answer = await asBearer(server, accessToken);
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ error: { code: 'token_revoked' } });
    }
    const bearer = { authorization: `Bearer ${accessToken}` };
    for (const server of [a, b]) {
      const comeback = await role('resource_admin', new BodhiClient(server), bearer);
      expect(comeback.status).toBe(401);
    }
    expect((await victim.user()).body).toEqual({ auth_status: 'logged_out' });
    // The provider ended the user's grants: the old refresh token mints nothing.
    const refresh = await tokenRequest(stack.client, {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
    });
    expect(refresh.body).toMatchObject({ error: 'invalid_grant' });

    // A new login carries the new role and works at once.
    await victim.login(DEMO_USER.username, DEMO_USER.password);
    expect((await victim.user()).body).toMatchObject({ role: 'resource_user' });
    expect((await victim.on(a).user()).body).toMatchObject({ role: 'resource_user' });
  });
});
