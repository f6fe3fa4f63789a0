import {
  DEFAULT_SESSION_PRUNE_INTERVAL_SECONDS,
  DEFAULT_SESSION_TOUCH_AFTER_SECONDS,
  DEFAULT_SESSION_TABLE,
  DEFAULT_SESSION_TTL_SECONDS,
  MIN_SESSION_SECRET_LENGTH,
} from '../settings/setting.constants.js';
import { SQL_IDENTIFIER } from '../settings/setting.schema.js';
import { parseSessionDbUrl, SessionDbTarget } from './session-db-url.util.js';
import { InvalidEncryptionKeyError, parseEncryptionKeys } from './session-cipher.js';

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
  /** Largest session, in bytes of JSON, a save accepts. Default 65536. */
  maxDataBytes?: number;
}

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
}

/**
 * Rows per prune statement. SQLite deletes synchronously on the request thread, so its
 * batches are small enough (~tens of ms on a million-row table) not to stall requests.
 */
const DEFAULT_PRUNE_BATCH_SIZE = { sqlite: 100, postgres: 1000 } as const;

export class InvalidSessionOptionsError extends Error {
  constructor(message: string) {
    super(`Invalid session options: ${message}`);
    this.name = 'InvalidSessionOptionsError';
  }
}

function positiveInt(name: string, value: number, allowZero = false): number {
  if (!Number.isInteger(value) || value < 0 || (!allowZero && value === 0)) {
    throw new InvalidSessionOptionsError(
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`,
    );
  }
  return value;
}

function sqlName(name: string, value: string): string {
  if (!SQL_IDENTIFIER.test(value)) {
    throw new InvalidSessionOptionsError(`${name} must be a plain SQL name (letters, digits, _)`);
  }
  return value;
}

function encryptionKeys(keys: string[]): Buffer[] {
  try {
    return parseEncryptionKeys(keys);
  } catch (e) {
    if (e instanceof InvalidEncryptionKeyError)
      throw new InvalidSessionOptionsError(`encryptionKeys: ${e.message}`);
    throw e;
  }
}

export function resolveSessionOptions(options: SessionModuleOptions): ResolvedSessionOptions {
  const target = parseSessionDbUrl(options.url ?? '');
  const secrets = (Array.isArray(options.secret) ? options.secret : [options.secret]).filter(
    Boolean,
  );
  if (secrets.length === 0 || secrets.some((s) => s.length < MIN_SESSION_SECRET_LENGTH)) {
    throw new InvalidSessionOptionsError(
      `secret must be at least ${MIN_SESSION_SECRET_LENGTH} characters`,
    );
  }
  const ttlMs = positiveInt('ttlSeconds', options.ttlSeconds ?? DEFAULT_SESSION_TTL_SECONDS) * 1000;
  return {
    target,
    secrets,
    tableName: sqlName('tableName', options.tableName ?? DEFAULT_SESSION_TABLE),
    schema: options.schema === undefined ? undefined : sqlName('schema', options.schema),
    ttlMs,
    pruneIntervalMs:
      positiveInt(
        'pruneIntervalSeconds',
        options.pruneIntervalSeconds ?? DEFAULT_SESSION_PRUNE_INTERVAL_SECONDS,
        true,
      ) * 1000,
    touchAfterMs: Math.min(
      positiveInt(
        'touchAfterSeconds',
        options.touchAfterSeconds ?? DEFAULT_SESSION_TOUCH_AFTER_SECONDS,
        true,
      ) * 1000,
      ttlMs / 10,
    ),
    pruneBatchSize: positiveInt(
      'pruneBatchSize',
      options.pruneBatchSize ?? DEFAULT_PRUNE_BATCH_SIZE[target.kind],
    ),
    secureCookie: options.secureCookie ?? false,
    poolSize: positiveInt('poolSize', options.poolSize ?? 10),
    encryptionKeys: encryptionKeys(options.encryptionKeys ?? []),
    maxDataBytes: positiveInt('maxDataBytes', options.maxDataBytes ?? 65_536),
  };
}
