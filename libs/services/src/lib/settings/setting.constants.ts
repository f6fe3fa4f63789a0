/**
 * Names of the environment variables (and embedder settings) the server reads, and the
 * defaults the schemas of each concern fill in. napi-config re-exports them.
 */
export const BODHI_HOME = 'BODHI_HOME';
export const BODHI_HOST = 'BODHI_HOST';
export const BODHI_PORT = 'BODHI_PORT';
export const BODHI_SCHEME = 'BODHI_SCHEME';
export const BODHI_PUBLIC_HOST = 'BODHI_PUBLIC_HOST';
export const BODHI_PUBLIC_PORT = 'BODHI_PUBLIC_PORT';
export const BODHI_LOG_LEVEL = 'BODHI_LOG_LEVEL';
export const BODHI_ENV_TYPE = 'BODHI_ENV_TYPE';
/** `json` (one JSON object per line) or `pretty` (readable lines); default by BODHI_ENV_TYPE. */
export const BODHI_LOG_FORMAT = 'BODHI_LOG_FORMAT';
/** `on` serves Prometheus metrics at /metrics; `off` (the default) serves none. */
export const BODHI_METRICS = 'BODHI_METRICS';
/** A port of its own for /metrics (on BODHI_HOST); unset: the server's own port. */
export const BODHI_METRICS_PORT = 'BODHI_METRICS_PORT';
/** OpenID Connect issuer URL of the identity provider. */
export const BODHI_AUTH_URL = 'BODHI_AUTH_URL';
export const BODHI_AUTH_CLIENT_ID = 'BODHI_AUTH_CLIENT_ID';
export const BODHI_AUTH_CLIENT_SECRET = 'BODHI_AUTH_CLIENT_SECRET';
/** Which admin API of the identity provider role changes go through (`none`: they are refused). */
export const BODHI_AUTH_ADMIN_API = 'BODHI_AUTH_ADMIN_API';
/** `dev-auth-server`: the development provider's (apps/dev-auth-server). */
export const IDENTITY_PROVIDER_ADMIN_APIS = ['none', 'dev-auth-server'] as const;
export type IdentityProviderAdminApi = (typeof IDENTITY_PROVIDER_ADMIN_APIS)[number];
/** Comma-separated JWS algorithms access tokens may be signed with (asymmetric only). */
export const BODHI_AUTH_TOKEN_ALGORITHMS = 'BODHI_AUTH_TOKEN_ALGORITHMS';
/** How long one call to the identity provider may take before it counts as the provider failing. */
export const BODHI_AUTH_TIMEOUT_MS = 'BODHI_AUTH_TIMEOUT_MS';
export const BODHI_SESSION_DB_URL = 'BODHI_SESSION_DB_URL';
export const BODHI_DEPLOYMENT = 'BODHI_DEPLOYMENT';
export const BODHI_PUBLIC_SCHEME = 'BODHI_PUBLIC_SCHEME';
export const BODHI_SESSION_SECRET = 'BODHI_SESSION_SECRET';
export const BODHI_SESSION_TTL_SECONDS = 'BODHI_SESSION_TTL_SECONDS';
export const BODHI_SESSION_PRUNE_INTERVAL_SECONDS = 'BODHI_SESSION_PRUNE_INTERVAL_SECONDS';
/** A request moves its session's stored expiry only once it would move this much (0: always). */
export const BODHI_SESSION_TOUCH_AFTER_SECONDS = 'BODHI_SESSION_TOUCH_AFTER_SECONDS';
export const BODHI_SESSION_DB_TABLE = 'BODHI_SESSION_DB_TABLE';
export const BODHI_SESSION_DB_SCHEMA = 'BODHI_SESSION_DB_SCHEMA';
/** Comma-separated base64 256-bit keys; the first encrypts session data, all decrypt. */
export const BODHI_SESSION_ENCRYPTION_KEYS = 'BODHI_SESSION_ENCRYPTION_KEYS';
export const BODHI_SESSION_MAX_BYTES = 'BODHI_SESSION_MAX_BYTES';
/** A session ends this long after its login, however active it is (the idle TTL still applies). */
export const BODHI_SESSION_MAX_LIFETIME_SECONDS = 'BODHI_SESSION_MAX_LIFETIME_SECONDS';
/** A session whose login never completes (no user) lives this long, not the full TTL. */
export const BODHI_SESSION_LOGIN_TTL_SECONDS = 'BODHI_SESSION_LOGIN_TTL_SECONDS';
/** How long a write waits for an SQLite file another process holds locked before it fails (503). */
export const BODHI_SESSION_DB_BUSY_TIMEOUT_MS = 'BODHI_SESSION_DB_BUSY_TIMEOUT_MS';
/**
 * `named`: each store statement is a named prepared statement per connection (direct
 * connections; PgBouncer >= 1.21 with max_prepared_statements > 0). `unnamed`: parsed each
 * time (older poolers, or any pooler without prepared-statement support).
 */
export const BODHI_SESSION_DB_STATEMENTS = 'BODHI_SESSION_DB_STATEMENTS';
/** PostgreSQL connections each instance opens at most (size a pooler's pool by it). */
export const BODHI_SESSION_DB_POOL_SIZE = 'BODHI_SESSION_DB_POOL_SIZE';
/** A direct PostgreSQL URL migrations run over at boot, when the serving URL is a pooler's. */
export const BODHI_SESSION_DB_MIGRATION_URL = 'BODHI_SESSION_DB_MIGRATION_URL';
/**
 * PostgreSQL only: `on` keeps each instance's recently read sessions in memory, dropped on
 * every change the database announces (LISTEN/NOTIFY); `off` reads every session from the
 * database. Never served without a working listener (see BODHI_SESSION_CACHE_LISTEN_URL).
 */
export const BODHI_SESSION_CACHE = 'BODHI_SESSION_CACHE';
/**
 * A direct PostgreSQL URL the session cache listens for changes on, when BODHI_SESSION_DB_URL
 * is a transaction pooler's (LISTEN needs a connection of its own). Default: the serving URL,
 * unless a pooler is configured (then the cache stays off).
 */
export const BODHI_SESSION_CACHE_LISTEN_URL = 'BODHI_SESSION_CACHE_LISTEN_URL';
/** How much of the client address a session records for its owner's list: `full`, `truncated` or `none`. */
export const BODHI_SESSION_CLIENT_ADDRESS = 'BODHI_SESSION_CLIENT_ADDRESS';
/** Comma-separated host names a request's `Host` may name (`*`: any); default the public and bind hosts. */
export const BODHI_ALLOWED_HOSTS = 'BODHI_ALLOWED_HOSTS';
/** Which proxies' `X-Forwarded-For` gives the client address (Express `trust proxy`); default none. */
export const BODHI_TRUST_PROXY = 'BODHI_TRUST_PROXY';
/** Requests per window and client address each login/logout route accepts (0: no limit). */
export const BODHI_AUTH_RATE_LIMIT = 'BODHI_AUTH_RATE_LIMIT';
export const BODHI_AUTH_RATE_LIMIT_WINDOW_SECONDS = 'BODHI_AUTH_RATE_LIMIT_WINDOW_SECONDS';

export const DEPLOYMENT_MODES = ['standalone', 'cluster'] as const;

export const PUBLIC_SCHEMES = ['http', 'https'] as const;
export const ENV_TYPES = ['production', 'development'] as const;
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;
export const METRICS_MODES = ['off', 'on'] as const;

export const DEFAULT_HOST = 'localhost';
export const DEFAULT_PORT = 1135;

/** Sessions live 180 minutes past their last use unless configured otherwise. */
export const DEFAULT_SESSION_TTL_SECONDS = 180 * 60;
export const DEFAULT_SESSION_PRUNE_INTERVAL_SECONDS = 60;
export const DEFAULT_SESSION_TOUCH_AFTER_SECONDS = 60;
export const DEFAULT_SESSION_TABLE = 'bodhi_sessions';
/** File under BODHI_HOME holding the generated cookie secret of a standalone install. */
export const SESSION_SECRET_FILE = 'session_secret';
/** Where a standalone install keeps its generated session encryption key (base64, mode 600). */
export const SESSION_ENCRYPTION_KEY_FILE = 'session_encryption_key';
export const DEFAULT_SESSION_MAX_BYTES = 65_536;
/** 12 hours: a working day, the re-authentication bound of OWASP ASVS (V3.3.2, level 2). */
export const DEFAULT_SESSION_MAX_LIFETIME_SECONDS = 12 * 60 * 60;
/** 10 minutes: time enough to sign in at the provider; an abandoned login goes soon after. */
export const DEFAULT_SESSION_LOGIN_TTL_SECONDS = 10 * 60;
/**
 * 5 s: a provider answers in well under a second, so a call this slow is a stalled provider,
 * and a request waiting on it costs its user seconds, not openid-client's 30.
 */
export const DEFAULT_AUTH_TIMEOUT_MS = 5000;
/** Writes wait this long for another process's SQLite lock (a backup, the admin CLI). */
export const DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS = 5000;
/**
 * A /24 or /48: enough for a user to recognise a place (home, office), and not a host's
 * address, which is personal data to keep and to show.
 */
export const DEFAULT_SESSION_CLIENT_ADDRESS = 'truncated';
/** 30 requests a minute per route and address: far above a person's logins, far below a flood. */
export const DEFAULT_AUTH_RATE_LIMIT = 30;
export const DEFAULT_AUTH_RATE_LIMIT_WINDOW_SECONDS = 60;
export const SESSION_DB_STATEMENT_MODES = ['named', 'unnamed'] as const;
export type SessionDbStatementMode = (typeof SESSION_DB_STATEMENT_MODES)[number];
/** Named: a statement is parsed and planned once per connection, the fastest on direct connections. */
export const DEFAULT_SESSION_DB_STATEMENTS: SessionDbStatementMode = 'named';
export const SESSION_CACHE_MODES = ['on', 'off'] as const;
export type SessionCacheMode = (typeof SESSION_CACHE_MODES)[number];
/**
 * On: on PostgreSQL it makes a session read as fast as MemoryStore's, and a change reaches
 * every instance within milliseconds (README, Performance).
 */
export const DEFAULT_SESSION_CACHE: SessionCacheMode = 'on';
/** PostgreSQL connections per process. */
export const DEFAULT_SESSION_POOL_SIZE = 10;
/** Shortest accepted cookie-signing secret: 32 characters. */
export const MIN_SESSION_SECRET_LENGTH = 32;
