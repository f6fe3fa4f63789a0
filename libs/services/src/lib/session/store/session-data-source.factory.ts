import { Logger } from '@nestjs/common';
import { DataSource, DataSourceOptions } from 'typeorm';
import { redactSecrets, urlPassword } from '../../util/redact.util.js';
import { sessionMigrations } from '../migrations/session.migrations.js';
import { migrationsTableName } from '../sql/table-names.js';
import { describeSessionDb, SessionDbTarget } from '../config/session-db-url.util.js';
import type { ResolvedSessionOptions } from '../config/session.options.js';
import { SessionTableRef } from '../sql/session-sql.js';
import { SessionCipher } from '../crypto/session-cipher.js';
import { SessionStoreBackend } from './session-store.backend.js';
import { SessionRevocations } from '../../revocation/session-revocations.js';
import { sessionDialect, type SessionDialect } from '../dialects/index.js';
import type { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { SessionCache } from '../cache/session-cache.js';
import { SessionInvalidationListener } from '../cluster/session-invalidation.listener.js';
import { invalidationChannel, tableSchema } from '../cluster/channel-messages.js';
import { pgPool } from '../dialects/postgres/pinned-connection.js';

/** The session database could not be opened or migrated; the message is safe to print. */
export class SessionDbUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionDbUnavailableError';
  }
}

export function sessionTableRef(options: ResolvedSessionOptions): SessionTableRef {
  return { kind: options.target.kind, table: options.tableName, schema: options.schema };
}

/** A DataSource's options on `target` (the serving URL, or the migration URL). */
function dataSourceOptions(
  options: ResolvedSessionOptions,
  target: SessionDbTarget = options.target,
): DataSourceOptions {
  return {
    ...sessionDialect(target.kind).driverOptions(options, target),
    migrations: sessionMigrations(sessionTableRef(options)),
    migrationsTableName: migrationsTableName(options.tableName),
    migrationsRun: false,
    synchronize: false,
    // TypeORM would log query parameters (session data, tokens) on errors.
    logging: false,
  } as DataSourceOptions;
}

/**
 * The session DataSource: what its dialect started once it was migrated (a SQLite file's
 * checkpoint worker) stops before its connections close.
 */
export class SessionDataSource extends DataSource {
  constructor(
    options: DataSourceOptions,
    private readonly dialect: SessionDialect,
  ) {
    super(options);
  }

  override async destroy(): Promise<void> {
    await this.dialect.beforeClose?.(this);
    await super.destroy();
  }
}

/** The password of a URL target, to keep out of error messages. */
const passwordOf = (target: SessionDbTarget) =>
  'url' in target ? urlPassword(target.url) : undefined;

const sameTarget = (a: SessionDbTarget, b: SessionDbTarget) =>
  JSON.stringify(a) === JSON.stringify(b);

/**
 * Brings the schema up to date, by the dialect's rules (PostgreSQL: one transaction under a
 * transaction-scoped lock). With a migration URL of its own (a direct connection beside a
 * pooler's), the migrations run over a short-lived DataSource on it (one connection, closed
 * afterwards) and the serving DataSource does not migrate.
 */
async function migrate(
  ds: DataSource,
  options: ResolvedSessionOptions,
  lockTimeoutMs?: number,
): Promise<void> {
  const { target, migrationTarget } = options;
  const dialect = sessionDialect(target.kind);
  if (sameTarget(migrationTarget, target)) {
    await dialect.migrate(ds, options, lockTimeoutMs);
    return;
  }
  const migrator = new DataSource(dataSourceOptions({ ...options, poolSize: 1 }, migrationTarget));
  try {
    await migrator.initialize();
    await dialect.migrate(migrator, options, lockTimeoutMs);
  } catch (e) {
    // The outer message names (and redacts) the serving URL only.
    const message = redactSecrets(e instanceof Error ? e.message : String(e), [
      passwordOf(migrationTarget),
    ]);
    throw new Error(`over the migration URL (${describeSessionDb(migrationTarget)}): ${message}`);
  } finally {
    // Migrated or not, the outcome stands: a failed close only leaves a connection to time out.
    if (migrator.isInitialized) await migrator.destroy().catch(() => undefined);
  }
}

/**
 * Opens the session database named by the options and brings its schema up to date.
 * `migrationLockTimeoutMs`: how long to wait for another process's migrations before
 * failing (the dialect's default: 120 s).
 */
export async function createSessionDataSource(
  options: ResolvedSessionOptions,
  logger = new Logger('SessionDataSource'),
  { migrationLockTimeoutMs }: { migrationLockTimeoutMs?: number } = {},
): Promise<SessionDataSource> {
  const where = describeSessionDb(options.target);
  const dialect = sessionDialect(options.target.kind);
  const ds = new SessionDataSource(dataSourceOptions(options), dialect);
  const safe = (e: unknown) =>
    redactSecrets(e instanceof Error ? e.message : String(e), [passwordOf(options.target)]);
  try {
    dialect.beforeOpen?.(options);
    await ds.initialize();
  } catch (e) {
    throw new SessionDbUnavailableError(`Cannot open session database (${where}): ${safe(e)}`);
  }
  try {
    await migrate(ds, options, migrationLockTimeoutMs);
  } catch (e) {
    await ds.destroy().catch(() => undefined);
    throw new SessionDbUnavailableError(`Cannot migrate session database (${where}): ${safe(e)}`);
  }
  dialect.afterMigrate?.(ds, options);
  logger.log(`Session store ready: ${where}, table ${options.tableName}`);
  return ds;
}

/** The cipher of the configured encryption keys; none without keys. */
function sessionCipher(options: ResolvedSessionOptions): SessionCipher | undefined {
  return options.encryptionKeys.length > 0 ? new SessionCipher(options.encryptionKeys) : undefined;
}

/**
 * The express-session store over an opened DataSource, configured from the options;
 * `metrics`: where its statements are measured (a private registry when not given).
 */
export function createSessionStore(
  dataSource: DataSource,
  options: ResolvedSessionOptions,
  metrics?: BodhiMetrics,
  cache?: SessionCache,
): SessionStoreBackend {
  return new SessionStoreBackend(dataSource, {
    ref: sessionTableRef(options),
    ttlMs: options.ttlMs,
    maxLifetimeMs: options.maxLifetimeMs,
    loginTtlMs: options.loginTtlMs,
    touchAfterMs: options.touchAfterMs,
    maxDataBytes: options.maxDataBytes,
    cipher: sessionCipher(options),
    busyTimeoutMs: options.busyTimeoutMs,
    statements: options.statements,
    metrics,
    cache,
  });
}

/** The revocation records kept beside the session table of the options; `metrics` as above. */
export function createSessionRevocations(
  dataSource: DataSource,
  options: ResolvedSessionOptions,
  metrics?: BodhiMetrics,
  cache?: SessionCache,
): SessionRevocations {
  return new SessionRevocations(dataSource, sessionTableRef(options), {
    cipher: sessionCipher(options),
    busyTimeoutMs: options.busyTimeoutMs,
    statements: options.statements,
    metrics,
    cache,
  });
}

/** An instance's session cache and the listener that keeps it true. */
export interface SessionCacheRuntime {
  cache: SessionCache;
  listener: SessionInvalidationListener;
}

/**
 * The session cache of the options, its listener started (the boot waits for its first
 * connection, and fails on a listen URL it cannot connect to); null when the cache is off,
 * which one line says, with why.
 */
export async function startSessionCache(
  dataSource: DataSource,
  options: ResolvedSessionOptions,
  metrics?: BodhiMetrics,
  logger = new Logger('SessionCache'),
): Promise<SessionCacheRuntime | null> {
  const plan = options.cache;
  if (!plan.on) {
    logger.log(`Session cache off: ${plan.reason}`);
    return null;
  }
  const ref = sessionTableRef(options);
  const pool = pgPool(dataSource);
  const cache = new SessionCache({ metrics });
  let listener: SessionInvalidationListener;
  try {
    listener = new SessionInvalidationListener({
      listenUrl: plan.listenUrl,
      channel: invalidationChannel(await tableSchema(pool, ref), ref.table),
      cache,
      pool,
      secrets: options.secrets,
      metrics,
      logger,
    });
    // An ending answers once every serving instance has heard it: the listener's barrier.
    cache.setBarrier(() => listener.barrier());
    await listener.start();
  } catch (e) {
    throw new SessionDbUnavailableError(e instanceof Error ? e.message : String(e));
  }
  return { cache, listener };
}
