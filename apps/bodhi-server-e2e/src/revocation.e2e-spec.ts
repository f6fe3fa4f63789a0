import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  buildAuthorizationUrl,
  createPkcePair,
  loginThroughForm,
} from '@bodhi/dev-auth-server/testing';
import {
  BODHI_HOME,
  BODHI_SESSION_ENCRYPTION_KEYS,
  sessionKey,
  type SessionDbKind,
} from '@bodhi/services';
import { parseEncryptionKeys, SessionCipher } from '@bodhi/services/testing';
import {
  BodhiClient,
  DEMO_ADMIN,
  DEMO_USER,
  SESSION_BACKENDS,
  Stack,
  startStack,
  TEST_ENCRYPTION_KEY,
  tokenRequest,
  untilRefreshTokenInactive,
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
    // Revoked at the provider in the background: the logout waited for no provider.
    await untilRefreshTokenInactive(stack.client, refreshToken);
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

/** The migrations of this release; the release before hashed session keys ran the first two. */
const MIGRATIONS = [
  'CreateSessionTable1763856000000',
  'AddSessionUserId1763856000001',
  'AddRevocationTables1764547200000',
  'HashSessionIds1764547200001',
  'AddSessionCreatedAt1765152000000',
  'AddSessionDevice1765238400000',
  'AddSessionChangeNotify1766016000000',
];
const COMPANIONS = ['user_revocations', 'revoked_tokens', 'revocation_queue'];
/** What releases before hashed keys encrypted with: the raw session id as associated data. */
const oldCipher = new SessionCipher(parseEncryptionKeys([TEST_ENCRYPTION_KEY]));

describe.each(SESSION_BACKENDS)(
  'an upgrade from the release before hashed session keys on %s',
  (backend) => {
    let stack: Stack;

    beforeAll(async () => {
      stack = await startStack({ backend });
    });
    afterAll(() => stack?.stop());

    /** A table beside the session table (companions, migrations), qualified for raw SQL. */
    const table = (suffix: string) => stack.db.besideTable(suffix);
    const tableNames = async (): Promise<string[]> =>
      (backend === 'sqlite'
        ? await stack.db.query<{ name: string }>(
            "SELECT name FROM sqlite_master WHERE type = 'table'",
          )
        : await stack.db.query<{ name: string }>(
            'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1',
            [stack.db.schema],
          )
      ).map((t) => t.name);
    const migrationNames = async (): Promise<string[]> =>
      (
        await stack.db.query<{ name: string }>(
          `SELECT name FROM ${table('migrations')} ORDER BY id`,
        )
      ).map((m) => m.name);
    const companionsPresent = async (): Promise<string[]> => {
      const names = await tableNames();
      return COMPANIONS.filter((c) => names.includes(`${stack.db.table}_${c}`));
    };

    it('re-keys at boot the rows the previous release wrote: the same cookies stay logged in, and log out', async () => {
      const server = stack.servers[0];
      // Given the server, the agents follow it to the port it binds when it comes back.
      const plain = new BodhiClient(server);
      const encrypted = new BodhiClient(server);
      await plain.login(DEMO_USER.username, DEMO_USER.password);
      await encrypted.login(DEMO_USER.username, DEMO_USER.password);
      const agents = await Promise.all(
        [
          { agent: plain, encode: (_: string, json: string) => json },
          { agent: encrypted, encode: (sid: string, json: string) => oldCipher.encrypt(sid, json) },
        ].map(async ({ agent, encode }) => {
          const sid = agent.sessionId() as string;
          const session = await stack.session(sid);
          expect(session).toBeDefined();
          return { agent, sid, session, tokens: await tokensOf(stack, agent), encode };
        }),
      );
      await server.stop();

      // The database as that release left it: rows keyed by the raw id, their data plain
      // JSON or encrypted with the raw id as associated data; no companion tables, no
      // creation times or device columns, and the migrations table without the migrations it
      // did not have.
      // That release deleted the pre-login session at login; this one keeps it, user-less.
      await stack.db.query(`DELETE FROM ${stack.db.qualifiedTable} WHERE user_id IS NULL`);
      for (const { sid, session, encode } of agents) {
        const json = JSON.stringify(session);
        await stack.db.query(
          `UPDATE ${stack.db.qualifiedTable} SET id = $1, data = $2 WHERE id = $3`,
          [sid, encode(sid, json), sessionKey(sid)],
        );
      }
      for (const companion of COMPANIONS) await stack.db.query(`DROP TABLE ${table(companion)}`);
      for (const column of ['created_at', 'last_seen_at', 'user_agent', 'client_address']) {
        await stack.db.query(`ALTER TABLE ${stack.db.qualifiedTable} DROP COLUMN ${column}`);
      }
      const later = MIGRATIONS.slice(2);
      await stack.db.query(
        `DELETE FROM ${table('migrations')} WHERE name IN (${later.map((_, i) => `$${i + 1}`).join(', ')})`,
        later,
      );
      const sids = agents.map((a) => a.sid).sort();
      const oldRows = await stack.rows();
      expect(oldRows.map((r) => r.id).sort()).toEqual(sids);
      expect(oldRows.find((r) => r.id === agents[0].sid)?.data.startsWith('{')).toBe(true);
      expect(oldRows.find((r) => r.id === agents[1].sid)?.data.startsWith('enc:v1:')).toBe(true);
      expect(await companionsPresent()).toEqual([]);
      expect(await migrationNames()).toEqual(MIGRATIONS.slice(0, 2));

      await server.up();

      // The boot migrated before it answered: rows keyed by the hash, their data as it was
      // (re-keyed in place), no raw id anywhere; the companion tables are back.
      const rows = await stack.rows();
      expect(rows.map((r) => r.id).sort()).toEqual(sids.map(sessionKey).sort());
      for (const sid of sids) {
        const dataOf = (list: typeof rows, id: string) => list.find((r) => r.id === id)?.data;
        expect(dataOf(rows, sessionKey(sid))).toBe(dataOf(oldRows, sid));
        expect(JSON.stringify(rows)).not.toContain(sid);
      }
      expect(await migrationNames()).toEqual(MIGRATIONS);
      expect(await companionsPresent()).toEqual(COMPANIONS);
      for (const { agent } of agents) {
        expect((await agent.user()).body).toMatchObject({
          auth_status: 'logged_in',
          username: DEMO_USER.username,
        });
      }

      // Logout works on the re-keyed sessions: the session ends (its cookie, replayed, is
      // anonymous), its access token is revoked (the companion tables are back) and its
      // refresh token at the provider.
      for (const { agent, sid, tokens } of agents) {
        const replayed = new BodhiClient(server.url);
        replayed.cookie = agent.cookie;
        expect((await agent.logout()).status).toBe(200);
        expect((await replayed.user()).body).toEqual({ auth_status: 'logged_out' });
        expect((await stack.rows()).map((r) => r.id)).not.toContain(sessionKey(sid));
        const bearer = await asBearer(server.url, tokens.accessToken);
        expect(bearer.status).toBe(401);
        expect(bearer.body).toMatchObject({ error: { code: 'token_revoked' } });
        await untilRefreshTokenInactive(stack.client, tokens.refreshToken);
        const refresh = await tokenRequest(stack.client, {
          grant_type: 'refresh_token',
          refresh_token: tokens.refreshToken,
        });
        expect(refresh.body).toMatchObject({ error: 'invalid_grant' });
      }
    });
  },
);

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

describe.each<{ backend: SessionDbKind; servers: number }>([
  { backend: 'sqlite', servers: 1 },
  { backend: 'postgres', servers: 2 },
])('the demotion attack on $backend with $servers server(s)', ({ backend, servers }) => {
  let stack: Stack;
  /** Every server of the stack; the admin logs in at the first, the victim at the last. */
  let urls: string[];

  beforeAll(async () => {
    stack = await startStack({ backend, servers });
    urls = stack.servers.map((s) => s.url);
    expect(urls).toHaveLength(servers);
  });
  afterAll(() => stack?.stop());

  it("a demoted admin's old bearer is refused at once on every server and cannot promote itself back", async () => {
    const admin = new BodhiClient(urls[0]);
    await admin.login(DEMO_ADMIN.username, DEMO_ADMIN.password);
    // A second admin: the demo user, promoted, logged in again to carry the role.
    const victim = new BodhiClient(urls[urls.length - 1]);
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
    for (const server of urls) {
      expect((await asBearer(server, accessToken)).body).toMatchObject({
        auth_status: 'api_token',
        role: 'resource_admin',
      });
    }

    const demotion = await role('resource_user', admin);
    expect(demotion.body).toMatchObject({ role: 'resource_user', sessions_cleared: 1 });

    for (const server of urls) {
      const answer = await asBearer(server, accessToken);
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ error: { code: 'token_revoked' } });
    }
    const bearer = { authorization: `Bearer ${accessToken}` };
    for (const server of urls) {
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

    // A new login carries the new role and works at once, on every server.
    await victim.login(DEMO_USER.username, DEMO_USER.password);
    for (const server of urls) {
      expect((await victim.on(server).user()).body).toMatchObject({ role: 'resource_user' });
    }
  });
});

describe.each(SESSION_BACKENDS)(
  "logout while the session's encryption key is missing, on %s",
  (backend) => {
    let stack: Stack;

    beforeAll(async () => {
      stack = await startStack({ backend });
    });
    afterAll(() => stack?.stop());

    it('ends the row the cookie names, which restoring the key then does not bring back', async () => {
      const server = stack.servers[0];
      const restartWithKeys = async (keys: string | undefined) => {
        server.env[BODHI_SESSION_ENCRYPTION_KEYS] = keys;
        await server.stop();
        await server.up();
      };
      const agent = new BodhiClient(server);
      await agent.login(DEMO_USER.username, DEMO_USER.password);
      const sid = agent.sessionId() as string;
      const copied = agent.cookie;
      const key = server.env[BODHI_SESSION_ENCRYPTION_KEYS];
      // The operator restarts with another key only: the row is there, and unreadable.
      await restartWithKeys(randomBytes(32).toString('base64'));
      expect((await agent.user()).body).toEqual({ auth_status: 'logged_out' });
      expect((await agent.logout()).status).toBe(200);
      expect((await stack.rows()).filter((r) => r.id === sessionKey(sid))).toEqual([]);
      // The key is back: the cookie (a copy a thief kept) is logged in no more.
      await restartWithKeys(key);
      const thief = new BodhiClient(server);
      thief.cookie = copied;
      expect((await thief.user()).body).toEqual({ auth_status: 'logged_out' });
    });
  },
);
