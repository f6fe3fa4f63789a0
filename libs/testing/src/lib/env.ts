// The one place that spells out how a Bodhi server and the development identity provider
// are configured for a test, a benchmark or `npm start`: a recipe's parts (its provider, its
// session database, its home) in, environment variables out. Only what is given is set, so
// a caller's own environment (npm start's BODHI_PORT, say) shows through for the rest.
import {
  BODHI_AUTH_ADMIN_API,
  BODHI_AUTH_RATE_LIMIT,
  BODHI_AUTH_CLIENT_ID,
  BODHI_AUTH_CLIENT_SECRET,
  BODHI_AUTH_URL,
  BODHI_DEPLOYMENT,
  BODHI_HOME,
  BODHI_HOST,
  BODHI_LOG_LEVEL,
  BODHI_PORT,
  BODHI_SESSION_DB_SCHEMA,
  BODHI_SESSION_DB_TABLE,
  BODHI_SESSION_DB_URL,
  BODHI_SESSION_ENCRYPTION_KEYS,
  BODHI_SESSION_SECRET,
  parseSettings,
  SettingService,
} from '@bodhi/services';
import { TEST_ENCRYPTION_KEY, TEST_SECRET } from './session-db.js';

export type EnvVars = Record<string, string | undefined>;

/** The Bodhi server as an OAuth client of an identity provider. */
export interface OAuthClient {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

/**
 * A provider for servers that never log in: discovery is lazy, so they boot without one
 * answering, and nothing listens on port 9 (discard), so a call that does go out fails at
 * once — what a spec of the unavailable-provider answer wants.
 */
export const UNREACHABLE_PROVIDER: OAuthClient = {
  issuer: 'http://127.0.0.1:9',
  clientId: 'bodhi-server',
  clientSecret: 'secret',
};

export interface ServerEnvOptions {
  /** BODHI_HOME. */
  home?: string;
  /**
   * Listens on 127.0.0.1:`port` (BODHI_HOST, BODHI_PORT); 0 (the kit's servers) binds a port
   * the kernel picks, which the server reports once listening (ServerProcess.url).
   */
  port?: number;
  /** BODHI_AUTH_URL, BODHI_AUTH_CLIENT_ID, BODHI_AUTH_CLIENT_SECRET. */
  provider?: OAuthClient;
  /** BODHI_SESSION_DB_URL, _TABLE and _SCHEMA: a TestSessionDb, or its parts. */
  db?: { url: string; table?: string; schema?: string };
  /** BODHI_SESSION_SECRET; a cluster's default is TEST_SECRET. */
  secret?: string;
  /**
   * BODHI_DEPLOYMENT, with what it takes: a cluster shares a cookie secret. Either encrypts
   * at rest with TEST_ENCRYPTION_KEY, so a test can read the rows (a standalone server
   * without a key would generate one of its own; `env` unsets the key to see that).
   */
  deployment?: 'standalone' | 'cluster';
  /** BODHI_LOG_LEVEL. */
  logLevel?: string;
  /**
   * BODHI_AUTH_RATE_LIMIT. A server on a test port (`port` given) defaults to
   * TEST_AUTH_RATE_LIMIT: suites log in many times from 127.0.0.1, and the limiter still runs.
   */
  authRateLimit?: number;
  /** Further settings, applied last (BODHI_ENV_TYPE, a what-if); undefined unsets one. */
  env?: EnvVars;
}

/** Logins (initiate, callback, logout) per route and window a test server takes from one address. */
export const TEST_AUTH_RATE_LIMIT = 100_000;

/**
 * Settings (for `env`, applied last) under which a test server keeps the login limit it
 * ships with (BODHI_AUTH_RATE_LIMIT unset: the server's default) rather than
 * TEST_AUTH_RATE_LIMIT: for a test of the limit as users get it.
 */
export const SERVER_DEFAULT_AUTH_RATE_LIMIT: EnvVars = { [BODHI_AUTH_RATE_LIMIT]: undefined };

const given = (vars: EnvVars): EnvVars =>
  Object.fromEntries(Object.entries(vars).filter(([, value]) => value !== undefined));

/** The server's settings for `options`. */
export function serverEnv(options: ServerEnvOptions): EnvVars {
  const { provider, db, deployment } = options;
  const cluster = deployment === 'cluster';
  return {
    ...given({
      [BODHI_HOME]: options.home,
      [BODHI_HOST]: options.port === undefined ? undefined : '127.0.0.1',
      [BODHI_PORT]: options.port?.toString(),
      [BODHI_AUTH_URL]: provider?.issuer,
      [BODHI_AUTH_CLIENT_ID]: provider?.clientId,
      [BODHI_AUTH_CLIENT_SECRET]: provider?.clientSecret,
      // The kit's providers are the development provider: role changes go through its API.
      [BODHI_AUTH_ADMIN_API]: provider && 'dev-auth-server',
      [BODHI_SESSION_DB_URL]: db?.url,
      [BODHI_SESSION_DB_TABLE]: db?.table,
      [BODHI_SESSION_DB_SCHEMA]: db?.schema,
      [BODHI_SESSION_SECRET]: options.secret ?? (cluster ? TEST_SECRET : undefined),
      [BODHI_LOG_LEVEL]: options.logLevel,
      [BODHI_AUTH_RATE_LIMIT]: (
        options.authRateLimit ?? (options.port === undefined ? undefined : TEST_AUTH_RATE_LIMIT)
      )?.toString(),
      [BODHI_DEPLOYMENT]: deployment,
    }),
    ...(deployment && { [BODHI_SESSION_ENCRYPTION_KEYS]: TEST_ENCRYPTION_KEY }),
    ...options.env,
  };
}

/** The settings a service under test reads, for `options`, without booting a module. */
export const testSettings = (options: ServerEnvOptions): SettingService =>
  new SettingService(parseSettings(serverEnv(options)));

export interface IdentityProviderOptions {
  /** DEV_AUTH_PORT; default 0, a port the kernel picks (the provider reports it). */
  port?: number;
  /** Interface to bind (DEV_AUTH_HOST); default 127.0.0.1. */
  host?: string;
  /** Issuer URL; default the address it binds (http://127.0.0.1:<port>). */
  issuer?: string;
  /** The Bodhi server's client; the provider's defaults when omitted. */
  clientId?: string;
  clientSecret?: string;
  /**
   * Where the provider may send users back to, known before it starts (npm start's fixed
   * port); servers on port 0 register theirs once listening instead.
   */
  redirectUris?: string[];
  /** Access-token lifetime; short values exercise refresh. */
  accessTokenTtlSeconds?: number;
}

/** The development identity provider's settings (apps/dev-auth-server, DEV_AUTH_*). */
export function identityProviderEnv(options: IdentityProviderOptions): EnvVars {
  return given({
    DEV_AUTH_PORT: String(options.port ?? 0),
    DEV_AUTH_HOST: options.host ?? '127.0.0.1',
    DEV_AUTH_ISSUER: options.issuer,
    DEV_AUTH_CLIENT_ID: options.clientId,
    DEV_AUTH_CLIENT_SECRET: options.clientSecret,
    DEV_AUTH_REDIRECT_URIS: options.redirectUris?.join(','),
    DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS: options.accessTokenTtlSeconds?.toString(),
  });
}
