import {
  createTestSessionDb,
  freePort,
  ManagedProcess,
  SESSION_BACKENDS,
  TEST_ENCRYPTION_KEY,
  TEST_SECRET,
  TestSessionDb,
  until,
} from '@bodhi/services/testing';
import { parseEncryptionKeys, SessionCipher } from '@bodhi/services';
import type { SessionDbKind } from '@bodhi/services';
import { decodeJwt } from 'jose';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { identityProvider, startIdentityProvider, WORKSPACE_ROOT } from './processes.js';

export { SESSION_BACKENDS };

/** The demo users of apps/dev-auth-server/users.json. */
export const DEMO_USER = { username: 'user@bodhi.test', password: 'user-pass' };
export const DEMO_ADMIN = { username: 'admin@bodhi.test', password: 'admin-pass' };
export const CLIENT_ID = 'bodhi-server';
export const CLIENT_SECRET = 'e2e-client-secret';

export interface StackOptions {
  backend: SessionDbKind;
  /** How many server instances share the session database (2+ needs postgres). */
  servers?: number;
  /** Access-token lifetime at the provider; short values exercise refresh. */
  accessTokenTtlSeconds?: number;
  /** A PostgreSQL of the test's own (e.g. one it stops), instead of the shared test one. */
  pgUrl?: string;
  /** BODHI_LOG_LEVEL of the servers; default warn. */
  logLevel?: string;
  /** Further settings of the servers (e.g. BODHI_SESSION_TOUCH_AFTER_SECONDS). */
  env?: Record<string, string>;
}

export interface BodhiServerProcess extends ManagedProcess {
  url: string;
  restart(signal?: NodeJS.Signals): Promise<void>;
}

export interface Stack {
  idp: ManagedProcess & { issuer: string };
  servers: BodhiServerProcess[];
  db: TestSessionDb;
  /** How many refresh-token grants the provider has served so far. */
  refreshGrants(): Promise<number>;
  /** Raw session rows, read past the server: what the store really holds. */
  rows(): Promise<{ id: string; user_id: string | null; data: string }[]>;
  /** The stored session `sid` (decrypted when the servers encrypt), read past the server. */
  session(sid: string | undefined): Promise<Record<string, unknown> | undefined>;
  /**
   * Resolves once the access token stored in session `sid` has expired by the rule the
   * server applies (jose: expired when the whole seconds of now reach `exp`): a wait on
   * the token's own expiry, not on a guess of the provider's lifetime.
   */
  untilAccessTokenExpired(sid: string | undefined): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts real processes: the development identity provider, then `servers` Bodhi servers
 * (the built apps) on one session database — a fresh SQLite file or a fresh PostgreSQL
 * schema. `stop()` ends them all and drops the database.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const count = options.servers ?? 1;
  const db = await createTestSessionDb(options.backend, undefined, options.pgUrl);
  const idpPort = await freePort();
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const urls = ports.map((port) => `http://127.0.0.1:${port}`);
  const idp = identityProvider({
    port: idpPort,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUris: urls.map((u) => `${u}/ui/auth/callback`),
    accessTokenTtlSeconds: options.accessTokenTtlSeconds,
  });
  const { issuer } = idp;
  const homes: string[] = [];
  const servers = ports.map((port, i) => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bodhi-e2e-home-'));
    homes.push(home);
    const proc = new ManagedProcess(
      `bodhi-server-${i}`,
      'apps/bodhi-server/dist/main.js',
      {
        ...process.env,
        BODHI_HOME: home,
        BODHI_HOST: '127.0.0.1',
        BODHI_PORT: String(port),
        BODHI_ENV_TYPE: 'development',
        BODHI_LOG_LEVEL: options.logLevel ?? 'warn',
        BODHI_AUTH_URL: issuer,
        BODHI_AUTH_CLIENT_ID: CLIENT_ID,
        BODHI_AUTH_CLIENT_SECRET: CLIENT_SECRET,
        BODHI_SESSION_DB_URL: db.url,
        BODHI_SESSION_DB_TABLE: db.table,
        BODHI_SESSION_DB_SCHEMA: db.schema,
        BODHI_SESSION_SECRET: TEST_SECRET,
        BODHI_DEPLOYMENT: count > 1 ? 'cluster' : 'standalone',
        // A cluster requires encryption at rest; single servers keep plain rows tests can read.
        BODHI_SESSION_ENCRYPTION_KEYS: count > 1 ? TEST_ENCRYPTION_KEY : undefined,
        ...options.env,
      },
      WORKSPACE_ROOT,
    );
    return Object.assign(proc, {
      url: urls[i],
      async restart(signal: NodeJS.Signals = 'SIGTERM') {
        await proc.stop(signal);
        proc.start();
        await proc.waitFor(`${urls[i]}/bodhi/v1/ping`);
      },
    });
  });
  const stop = async () => {
    await Promise.all([...servers, idp].map((p) => p.stop()));
    await db.drop();
    for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
  };
  try {
    await startIdentityProvider(idp);
    for (const server of servers) server.start();
    await Promise.all(servers.map((s) => s.waitFor(`${s.url}/bodhi/v1/ping`)));
  } catch (e) {
    await stop();
    throw e;
  }
  const rows = () =>
    db.query<{ id: string; user_id: string | null; data: string }>(
      `SELECT id, user_id, data FROM ${db.qualifiedTable} ORDER BY id`,
    );
  // Plain rows pass through the cipher unchanged, so one reader serves both kinds of stack.
  const cipher = new SessionCipher(parseEncryptionKeys([TEST_ENCRYPTION_KEY]));
  const session = async (sid: string | undefined) => {
    const row = (await rows()).find((r) => r.id === sid);
    return row && sid
      ? (JSON.parse(cipher.decrypt(sid, row.data)) as Record<string, unknown>)
      : undefined;
  };
  return {
    idp,
    servers,
    db,
    refreshGrants: () => providerStats(issuer).then((stats) => stats.grants.refresh_token ?? 0),
    rows,
    session,
    async untilAccessTokenExpired(sid) {
      const token = (await session(sid))?.access_token;
      if (typeof token !== 'string') throw new Error('the session holds no access token');
      const expiresAtMs = (decodeJwt(token).exp ?? 0) * 1000;
      await until(() => Date.now() >= expiresAtMs, Math.max(0, expiresAtMs - Date.now()) + 10_000);
    },
    stop,
  };
}

/** The provider's grant counters, read through its admin API with a client-credentials token. */
async function providerStats(issuer: string): Promise<{ grants: Record<string, number> }> {
  const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
    token_endpoint: string;
  };
  const tokenResponse = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const { access_token } = (await tokenResponse.json()) as { access_token: string };
  const stats = await fetch(`${issuer}/admin/stats`, {
    headers: { authorization: `Bearer ${access_token}` },
  });
  if (!stats.ok) throw new Error(`provider stats answered ${stats.status}`);
  return (await stats.json()) as { grants: Record<string, number> };
}
