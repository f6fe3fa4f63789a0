import { BODHI_SESSION_DB_STATEMENTS, sessionKey, type SessionDbKind } from '@bodhi/services';
import { parseEncryptionKeys, SessionCipher } from '@bodhi/services/testing';
import { decodeJwt } from 'jose';
import { EnvVars, OAuthClient, serverEnv } from './env.js';
import { HttpFaultProxy } from './http-fault-proxy.js';
import { IdentityProviderProcess, providerStats } from './identity-provider.js';
import { ServerProcess } from './server-process.js';
import {
  createTestSessionDb,
  TEST_ENCRYPTION_KEY,
  TEST_PGBOUNCER_URL,
  TEST_SECRET,
  TestSessionDb,
} from './session-db.js';
import { until } from './wait.js';
import { tempHome } from './workspace.js';

/** The Bodhi server's client at the stack's identity provider. */
export const CLIENT_ID = 'bodhi-server';
export const CLIENT_SECRET = 'e2e-client-secret';

/** One server of a stack, however it runs. */
export interface StackServer {
  /** Where it answers once up (it binds a port the kernel picks: a restart may move it). */
  readonly url: string;
  /** Starts it; resolves once it listens and the stack's provider knows its redirect URI. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Makes server `index` of a stack with the settings `env` (BODHI_PORT=0). `onListening` must
 * run with its URL each time it comes up, before `up()` resolves: the stack registers the
 * server's redirect URI with the provider there.
 */
export type ServerLauncher<S extends StackServer> = (server: {
  index: number;
  env: EnvVars;
  onListening: (url: string) => Promise<void>;
}) => S;

/**
 * What stands between the servers and the session database. 'pgbouncer': the harness's
 * PgBouncer in transaction mode (TEST_PGBOUNCER_URL), with unnamed statements (Debian's 1.18
 * keeps no named ones across transactions).
 */
export type StackPooler = 'pgbouncer';

export interface StackOptions {
  backend: SessionDbKind;
  /** How many server instances share the session database (2+ needs postgres). */
  servers?: number;
  /**
   * The servers reach the test PostgreSQL through this pooler; the stack's `db` still queries
   * it directly (what a test checks against, pg_locks included). Default: direct connections.
   */
  pooler?: StackPooler;
  /** Access-token lifetime at the provider; short values exercise refresh. */
  accessTokenTtlSeconds?: number;
  /** A PostgreSQL of the test's own (e.g. one it stops), instead of the shared test one. */
  pgUrl?: string;
  /** BODHI_LOG_LEVEL of the servers; default warn. */
  logLevel?: string;
  /** Further settings of the servers (e.g. BODHI_SESSION_TOUCH_AFTER_SECONDS). */
  env?: EnvVars;
  /**
   * The provider behind an HttpFaultProxy (`Stack.providerProxy`): its issuer is the proxy's
   * URL, so the servers and the login form reach it only through the proxy, which a test can
   * make answer 502 or an HTML page.
   */
  providerProxy?: boolean;
}

export interface Stack<S extends StackServer = ServerProcess> {
  idp: IdentityProviderProcess;
  /** What stands between everyone and `idp` with `providerProxy`; none otherwise. */
  providerProxy?: HttpFaultProxy;
  /** The servers' client at `idp`. */
  client: OAuthClient;
  servers: S[];
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

const serverProcess: ServerLauncher<ServerProcess> = ({ index, env, onListening }) =>
  new ServerProcess(env, { name: `bodhi-server-${index}`, onListening });

/**
 * Starts the development identity provider, then `servers` Bodhi servers on one session
 * database — a fresh SQLite file or a fresh PostgreSQL schema — each in a home of its own.
 * Every one binds a port the kernel picks and says which; each server's redirect URI is
 * registered with the provider once the server knows it, before the stack is handed out.
 * The servers are the built app as child processes unless `launch` runs them otherwise
 * (the browser e2e runs them in-process). `stop()` ends them all and drops the database.
 */
export function startStack(options: StackOptions): Promise<Stack>;
export function startStack<S extends StackServer>(
  options: StackOptions,
  launch: ServerLauncher<S>,
): Promise<Stack<S>>;
export async function startStack(
  options: StackOptions,
  launch: ServerLauncher<StackServer> = serverProcess,
): Promise<Stack<StackServer>> {
  const count = options.servers ?? 1;
  if (options.pooler && (options.backend !== 'postgres' || options.pgUrl)) {
    // The harness's PgBouncer fronts the shared test PostgreSQL, not a test's own.
    throw new Error(`pooler '${options.pooler}' needs the postgres backend on the test PostgreSQL`);
  }
  const db = await createTestSessionDb(options.backend, undefined, options.pgUrl);
  const pooled = options.pooler === 'pgbouncer';
  // The same schema and table, reached through PgBouncer: only the URL differs.
  const serverDb = pooled ? { ...db, url: TEST_PGBOUNCER_URL } : db;
  const providerProxy = options.providerProxy ? await HttpFaultProxy.start() : undefined;
  const idp = new IdentityProviderProcess({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds,
    issuer: providerProxy?.url,
  });
  const homes = Array.from({ length: count }, () => tempHome('bodhi-e2e-home-'));
  const servers: StackServer[] = [];
  const stop = async () => {
    await Promise.allSettled([...servers, idp].map((s) => s.stop()));
    await providerProxy?.close();
    await db.drop();
    for (const home of homes) home.remove();
  };
  let client: OAuthClient;
  try {
    await idp.up();
    providerProxy?.forwardTo(idp.origin);
    client = idp.client;
    const onListening = (url: string) => idp.registerRedirectUri(url);
    for (const [index, home] of homes.entries())
      servers.push(
        launch({
          index,
          onListening,
          env: serverEnv({
            home: home.dir,
            port: 0,
            provider: client,
            db: serverDb,
            secret: TEST_SECRET,
            logLevel: options.logLevel ?? 'warn',
            deployment: count > 1 ? 'cluster' : 'standalone',
            env: {
              BODHI_ENV_TYPE: 'development',
              ...(pooled && { [BODHI_SESSION_DB_STATEMENTS]: 'unnamed' }),
              ...options.env,
            },
          }),
        }),
      );
    await Promise.all(servers.map((s) => s.up()));
  } catch (e) {
    await stop();
    throw e;
  }
  const rows = () =>
    db.query<{ id: string; user_id: string | null; data: string }>(
      `SELECT id, user_id, data FROM ${db.qualifiedTable} ORDER BY id`,
    );
  // Rows are keyed, and their encryption bound, by the hash of the session id.
  const cipher = new SessionCipher(parseEncryptionKeys([TEST_ENCRYPTION_KEY]));
  const session = async (sid: string | undefined) => {
    const key = sid && sessionKey(sid);
    const row = (await rows()).find((r) => r.id === key);
    return row && key
      ? (JSON.parse(cipher.decrypt(key, row.data)) as Record<string, unknown>)
      : undefined;
  };
  return {
    idp,
    providerProxy,
    client,
    servers,
    db,
    refreshGrants: () => providerStats(client).then((stats) => stats.grants.refresh_token ?? 0),
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
