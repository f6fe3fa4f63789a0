import {
  longestDerivedName,
  PG_MAX_IDENTIFIER_LENGTH,
  PG_MAX_TABLE_NAME_LENGTH,
} from '../sql/table-names.js';
import { z } from 'zod';
import { ConfigIssue, configIssues, formatConfigIssue } from '../../settings/config-issue.js';
import {
  BODHI_SESSION_CACHE,
  BODHI_SESSION_CACHE_LISTEN_URL,
  BODHI_SESSION_CLIENT_ADDRESS,
  BODHI_SESSION_DB_BUSY_TIMEOUT_MS,
  BODHI_SESSION_DB_MIGRATION_URL,
  BODHI_SESSION_DB_POOL_SIZE,
  BODHI_SESSION_DB_STATEMENTS,
  BODHI_SESSION_DB_SCHEMA,
  BODHI_SESSION_DB_TABLE,
  BODHI_SESSION_DB_URL,
  BODHI_SESSION_ENCRYPTION_KEYS,
  BODHI_SESSION_LOGIN_TTL_SECONDS,
  BODHI_SESSION_MAX_BYTES,
  BODHI_SESSION_MAX_LIFETIME_SECONDS,
  BODHI_SESSION_PRUNE_INTERVAL_SECONDS,
  BODHI_SESSION_SECRET,
  BODHI_SESSION_TOUCH_AFTER_SECONDS,
  BODHI_SESSION_TTL_SECONDS,
  DEFAULT_SESSION_CACHE,
  DEFAULT_SESSION_CLIENT_ADDRESS,
  DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS,
  DEFAULT_SESSION_DB_STATEMENTS,
  DEFAULT_SESSION_LOGIN_TTL_SECONDS,
  DEFAULT_SESSION_MAX_BYTES,
  DEFAULT_SESSION_MAX_LIFETIME_SECONDS,
  DEFAULT_SESSION_POOL_SIZE,
  DEFAULT_SESSION_PRUNE_INTERVAL_SECONDS,
  DEFAULT_SESSION_TABLE,
  DEFAULT_SESSION_TOUCH_AFTER_SECONDS,
  DEFAULT_SESSION_TTL_SECONDS,
  SESSION_CACHE_MODES,
  SESSION_DB_STATEMENT_MODES,
  SessionCacheMode,
  SessionDbStatementMode,
} from '../../settings/setting.constants.js';
import {
  encryptionKeys,
  nonNegativeInteger,
  positiveInteger,
  sessionBytes,
  sessionDbUrl,
  sessionSecret,
  sqlIdentifier,
} from '../../settings/setting.fields.js';
import { settingSection } from '../../settings/setting.section.js';
import { parseEncryptionKeys } from '../crypto/session-cipher.js';
import { parseSessionDbUrl, SessionDbTarget } from './session-db-url.util.js';
import { CLIENT_ADDRESS_MODES, ClientAddressMode } from '../store/session-device.js';

export interface SessionModuleOptions {
  /** Session database: `sqlite:<path>`, `sqlite::memory:` or `postgres(ql)://…`. Required. */
  url: string;
  /** Cookie-signing secret, or several for rotation (the first signs, all verify). Required. */
  secret: string | string[];
  /** Session table name. Default `bodhi_sessions`. */
  tableName?: string;
  /** PostgreSQL schema holding the table (created when missing). Default `public`; ignored on SQLite. */
  schema?: string;
  /** Idle lifetime of a session in seconds; each use slides it. Default 10800 (180 minutes). */
  ttlSeconds?: number;
  /** Seconds between prunes of expired rows; 0 turns pruning off. Default 60. */
  pruneIntervalSeconds?: number;
  /**
   * A request that only uses its session moves the stored expiry once it would move by at
   * least this many seconds (capped at a tenth of the TTL); 0 writes on every request.
   * Default 60: most requests then read the session and write nothing.
   */
  touchAfterSeconds?: number;
  /** Most rows one prune statement deletes, so pruning never holds long locks. Default 1000 (PostgreSQL), 100 (SQLite). */
  pruneBatchSize?: number;
  /** Set the cookie's Secure flag (the public scheme is https). Default false. */
  secureCookie?: boolean;
  /** PostgreSQL connection pool size per process. Default 10. */
  poolSize?: number;
  /**
   * Base64 256-bit keys encrypting session data at rest (AES-256-GCM); the first encrypts,
   * all decrypt. Default none: data is stored as plain JSON (a warning at boot).
   */
  encryptionKeys?: string[];
  /** Largest session, in bytes of JSON, a save accepts (at least 1024). Default 65536. */
  maxDataBytes?: number;
  /**
   * Seconds a session lives after its creation however active it is; the idle TTL still
   * applies. Default 43200 (12 hours).
   */
  maxLifetimeSeconds?: number;
  /** Seconds a session without a user (a login not completed) lives. Default 600. */
  loginTtlSeconds?: number;
  /** Milliseconds a write waits for an SQLite file locked by another process. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * How much of the client address a session records for its owner's list: `full`,
   * `truncated` (to its /24 or /48) or `none`. Default `truncated`.
   */
  clientAddress?: ClientAddressMode;
  /**
   * PostgreSQL only: `named` prepared statements (direct connections, PgBouncer >= 1.21 with
   * max_prepared_statements > 0) or `unnamed` ones (older poolers). Default `named`.
   */
  statements?: SessionDbStatementMode;
  /**
   * PostgreSQL only: a URL migrations run over at boot instead of `url` (a direct connection
   * when `url` is a pooler's). Default: `url`.
   */
  migrationUrl?: string;
  /**
   * PostgreSQL only: `on` serves recently read sessions from memory, dropped when any
   * instance changes them (LISTEN/NOTIFY); `off` reads each from the database. Default `on`.
   */
  cache?: SessionCacheMode;
  /**
   * PostgreSQL only: a direct URL the cache listens for changes on. Default `url`, unless
   * `url` is a pooler's (`migrationUrl` given, or `statements: 'unnamed'`): the cache is then
   * off until one is given, since LISTEN does not work through a transaction pooler.
   */
  cacheListenUrl?: string;
}

/**
 * The session store's one schema: every rule and default of the options above. The server's
 * BODHI_SESSION_* settings are read through it too (SESSION_SETTINGS below).
 */
const sessionOptionsSchema = z.object({
  // Checked where it is parsed into a target, which names BODHI_SESSION_DB_URL.
  url: z.string(),
  secret: z.preprocess(
    (secret) => (typeof secret === 'string' ? [secret] : secret),
    z.array(sessionSecret).min(1, 'is required'),
  ),
  tableName: sqlIdentifier.default(DEFAULT_SESSION_TABLE),
  schema: sqlIdentifier.optional(),
  ttlSeconds: positiveInteger.default(DEFAULT_SESSION_TTL_SECONDS),
  pruneIntervalSeconds: nonNegativeInteger.default(DEFAULT_SESSION_PRUNE_INTERVAL_SECONDS),
  touchAfterSeconds: nonNegativeInteger.default(DEFAULT_SESSION_TOUCH_AFTER_SECONDS),
  pruneBatchSize: positiveInteger.optional(),
  secureCookie: z.boolean().default(false),
  poolSize: positiveInteger.default(DEFAULT_SESSION_POOL_SIZE),
  encryptionKeys: encryptionKeys.default([]),
  maxDataBytes: sessionBytes.default(DEFAULT_SESSION_MAX_BYTES),
  maxLifetimeSeconds: positiveInteger.default(DEFAULT_SESSION_MAX_LIFETIME_SECONDS),
  loginTtlSeconds: positiveInteger.default(DEFAULT_SESSION_LOGIN_TTL_SECONDS),
  busyTimeoutMs: nonNegativeInteger.default(DEFAULT_SESSION_DB_BUSY_TIMEOUT_MS),
  clientAddress: z.enum(CLIENT_ADDRESS_MODES).default(DEFAULT_SESSION_CLIENT_ADDRESS),
  statements: z.enum(SESSION_DB_STATEMENT_MODES).default(DEFAULT_SESSION_DB_STATEMENTS),
  migrationUrl: sessionDbUrl.optional(),
  cache: z.enum(SESSION_CACHE_MODES).default(DEFAULT_SESSION_CACHE),
  cacheListenUrl: sessionDbUrl.optional(),
}) satisfies z.ZodObject<Record<keyof SessionModuleOptions, z.ZodType>>;

/**
 * BODHI_SESSION_*: the options a deployment sets. The URL defaults to a file under
 * BODHI_HOME and the secret, standalone, to a generated one, so both may be unset here.
 */
export const SESSION_SETTINGS = settingSection(
  sessionOptionsSchema
    .pick({
      tableName: true,
      schema: true,
      ttlSeconds: true,
      pruneIntervalSeconds: true,
      touchAfterSeconds: true,
      encryptionKeys: true,
      maxDataBytes: true,
      maxLifetimeSeconds: true,
      loginTtlSeconds: true,
      busyTimeoutMs: true,
      clientAddress: true,
      statements: true,
      migrationUrl: true,
      poolSize: true,
      cache: true,
      cacheListenUrl: true,
    })
    .extend({ url: sessionDbUrl.optional(), secret: sessionSecret.optional() }),
  {
    url: BODHI_SESSION_DB_URL,
    secret: BODHI_SESSION_SECRET,
    tableName: BODHI_SESSION_DB_TABLE,
    schema: BODHI_SESSION_DB_SCHEMA,
    ttlSeconds: BODHI_SESSION_TTL_SECONDS,
    pruneIntervalSeconds: BODHI_SESSION_PRUNE_INTERVAL_SECONDS,
    touchAfterSeconds: BODHI_SESSION_TOUCH_AFTER_SECONDS,
    encryptionKeys: BODHI_SESSION_ENCRYPTION_KEYS,
    maxDataBytes: BODHI_SESSION_MAX_BYTES,
    maxLifetimeSeconds: BODHI_SESSION_MAX_LIFETIME_SECONDS,
    loginTtlSeconds: BODHI_SESSION_LOGIN_TTL_SECONDS,
    busyTimeoutMs: BODHI_SESSION_DB_BUSY_TIMEOUT_MS,
    clientAddress: BODHI_SESSION_CLIENT_ADDRESS,
    statements: BODHI_SESSION_DB_STATEMENTS,
    migrationUrl: BODHI_SESSION_DB_MIGRATION_URL,
    poolSize: BODHI_SESSION_DB_POOL_SIZE,
    cache: BODHI_SESSION_CACHE,
    cacheListenUrl: BODHI_SESSION_CACHE_LISTEN_URL,
  },
);

/** Options with every default applied and every value checked. */
export interface ResolvedSessionOptions {
  target: SessionDbTarget;
  secrets: string[];
  tableName: string;
  schema?: string;
  ttlMs: number;
  pruneIntervalMs: number;
  touchAfterMs: number;
  pruneBatchSize: number;
  secureCookie: boolean;
  poolSize: number;
  encryptionKeys: Buffer[];
  maxDataBytes: number;
  maxLifetimeMs: number;
  loginTtlMs: number;
  busyTimeoutMs: number;
  clientAddress: ClientAddressMode;
  statements: SessionDbStatementMode;
  /** Where migrations run: the target's own URL unless a migration URL was given. */
  migrationTarget: SessionDbTarget;
  /** Whether sessions are cached in memory, and where the cache listens for changes. */
  cache: SessionCachePlan;
}

/**
 * The session cache's configuration as resolved: on, listening on a direct PostgreSQL URL,
 * or off for the reason given (what the boot line says).
 */
export type SessionCachePlan = { on: true; listenUrl: string } | { on: false; reason: string };

/**
 * Rows per prune statement. SQLite deletes synchronously on the request thread, so its
 * batches are small enough (~tens of ms on a million-row table) not to stall requests.
 */
const DEFAULT_PRUNE_BATCH_SIZE = { sqlite: 100, postgres: 1000 } as const;

export class InvalidSessionOptionsError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`Invalid session options: ${issues.map(formatConfigIssue).join('; ')}`);
    this.name = 'InvalidSessionOptionsError';
  }
}

export function resolveSessionOptions(options: SessionModuleOptions): ResolvedSessionOptions {
  const target = parseSessionDbUrl(options.url ?? '');
  const result = sessionOptionsSchema.safeParse(options);
  if (!result.success) throw new InvalidSessionOptionsError(configIssues(result.error));
  const o = result.data;
  const migrationTarget = o.migrationUrl === undefined ? target : parseSessionDbUrl(o.migrationUrl);
  // On SQLite another file's URL would migrate that file and serve this one unmigrated.
  if (target.kind === 'sqlite' && o.migrationUrl !== undefined) {
    throw new InvalidSessionOptionsError([
      {
        variable: BODHI_SESSION_DB_MIGRATION_URL,
        message: `is for PostgreSQL only (a direct URL beside a pooler's); unset it for SQLite`,
      },
    ]);
  }
  if (migrationTarget.kind !== target.kind) {
    throw new InvalidSessionOptionsError([
      {
        variable: BODHI_SESSION_DB_MIGRATION_URL,
        message: `must name the same kind of database as ${BODHI_SESSION_DB_URL} (a direct PostgreSQL URL beside a pooler's)`,
      },
    ]);
  }
  // A longer name would be cut where PostgreSQL names what the store derives from it.
  if (target.kind === 'postgres' && o.tableName.length > PG_MAX_TABLE_NAME_LENGTH) {
    throw new InvalidSessionOptionsError([
      {
        variable: BODHI_SESSION_DB_TABLE,
        message:
          `is ${o.tableName.length} characters; on PostgreSQL at most ${PG_MAX_TABLE_NAME_LENGTH}, ` +
          `so that every name derived from it (the longest: ${longestDerivedName(o.tableName)}) ` +
          `fits in PostgreSQL's ${PG_MAX_IDENTIFIER_LENGTH}-character identifiers`,
      },
    ]);
  }
  const cache = cachePlan(target, o);
  const maxLifetimeMs = o.maxLifetimeSeconds * 1000;
  // An idle timeout longer than the lifetime would never apply (and the cookie would outlive it).
  const ttlMs = Math.min(o.ttlSeconds * 1000, maxLifetimeMs);
  return {
    target,
    secrets: o.secret,
    tableName: o.tableName,
    schema: o.schema,
    ttlMs,
    pruneIntervalMs: o.pruneIntervalSeconds * 1000,
    // A session must still slide when its TTL is short.
    touchAfterMs: Math.min(o.touchAfterSeconds * 1000, ttlMs / 10),
    pruneBatchSize: o.pruneBatchSize ?? DEFAULT_PRUNE_BATCH_SIZE[target.kind],
    secureCookie: o.secureCookie,
    poolSize: o.poolSize,
    encryptionKeys: parseEncryptionKeys(o.encryptionKeys),
    maxDataBytes: o.maxDataBytes,
    maxLifetimeMs,
    // An unfinished login never outlives the session TTL.
    loginTtlMs: Math.min(o.loginTtlSeconds * 1000, ttlMs),
    busyTimeoutMs: o.busyTimeoutMs,
    clientAddress: o.clientAddress,
    statements: o.statements,
    migrationTarget,
    cache,
  };
}

/**
 * Never a cache without invalidation: it listens on the serving URL only when that is a
 * direct connection as far as the settings tell (no migration URL beside it, named
 * statements); behind a pooler only on a listen URL of its own. The listener also proves at
 * run time that the changes it is told of arrive, and serves nothing until they do.
 */
function cachePlan(
  target: SessionDbTarget,
  o: Pick<SessionModuleOptions, 'cache' | 'cacheListenUrl' | 'migrationUrl' | 'statements'>,
): SessionCachePlan {
  const listen = o.cacheListenUrl === undefined ? undefined : parseSessionDbUrl(o.cacheListenUrl);
  if (listen && listen.kind !== 'postgres') {
    throw new InvalidSessionOptionsError([
      { variable: BODHI_SESSION_CACHE_LISTEN_URL, message: 'must be a PostgreSQL URL' },
    ]);
  }
  if (target.kind !== 'postgres') {
    return { on: false, reason: 'SQLite reads sessions from a local file; no cache is needed' };
  }
  if (o.cache === 'off') return { on: false, reason: `${BODHI_SESSION_CACHE}=off` };
  if (listen) return { on: true, listenUrl: listen.url };
  const pooler =
    o.migrationUrl !== undefined
      ? `${BODHI_SESSION_DB_MIGRATION_URL} is set`
      : o.statements === 'unnamed'
        ? `${BODHI_SESSION_DB_STATEMENTS}=unnamed`
        : undefined;
  if (pooler) {
    return {
      on: false,
      reason:
        `${BODHI_SESSION_DB_URL} looks like a pooler's (${pooler}) and LISTEN needs a direct ` +
        `connection; set ${BODHI_SESSION_CACHE_LISTEN_URL} to a direct URL to turn it on`,
    };
  }
  return { on: true, listenUrl: target.url };
}
