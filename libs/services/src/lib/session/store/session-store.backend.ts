import { Logger } from '@nestjs/common';
import { SessionData, Store } from 'express-session';
import type { DataSource } from 'typeorm';
import type { SessionDbKind } from '../config/session-db-url.util.js';
import {
  sessionStatements,
  type SessionStatements,
  type SessionTableRef,
} from '../sql/session-sql.js';
import type { Row, SqlExecutorOptions } from '../sql/session-sql.executor.js';
import type { StatementName, StatementParams } from '../sql/sql-statement.js';
import { storeStatements, StoreStatements } from '../cache/cached-statements.js';
import type { SessionCache } from '../cache/session-cache.js';
import { BodhiMetrics } from '../../metrics/bodhi-metrics.js';
import { SessionCipher, SessionDecryptError } from '../crypto/session-cipher.js';
import { InvalidSessionInputError, SessionTooLargeError } from '../session.errors.js';
import { keyRef, SESSION_KEY_PATTERN, sessionKey, sessionRef } from './session-key.js';
import { describeDevice, SessionSummary } from './session-device.js';

export interface SessionStoreConfig extends SqlExecutorOptions {
  ref: SessionTableRef;
  /** Lifetime of a session whose cookie has no expiry. */
  ttlMs: number;
  /** A session ends this long after its creation (its login), however active it is. */
  maxLifetimeMs: number;
  /** A session without a user (a login not completed) expires this long after its last write. */
  loginTtlMs: number;
  /**
   * `touch` skips the write when it would move a loaded session's stored expiry by less
   * than this (the row then expires at most this much before the cookie). Default 0.
   */
  touchAfterMs?: number;
  /** Encrypts data at rest when set. */
  cipher?: SessionCipher;
  /** Largest session (serialized JSON, bytes) a save accepts. */
  maxDataBytes: number;
  /** The app clock (epoch ms); tests may pass their own. */
  now?: () => number;
  /** Where its statements are measured; a private, unserved registry when not given. */
  metrics?: BodhiMetrics;
  /** PostgreSQL: the instance's session cache, in front of its reads (see CachedStatements). */
  cache?: SessionCache;
}

/**
 * Marks sessions express-session loaded from this store (as opposed to new ones), so that
 * their saves update the row and never re-create it: a request that was in flight when its
 * session was destroyed (logout, role change) cannot resurrect it with a late save.
 */
const LOADED = Symbol('bodhi.session.loaded');

/**
 * The expiry (epoch ms) of the row a session was read from, carried from `findSession`'s
 * result to the session express-session builds of it, and kept current by its writes.
 */
const STORED_EXPIRY = Symbol('bodhi.session.storedExpiry');
/**
 * The not-before instant (epoch ms) of the session's user when the row was read (the same
 * statement reads both): a token issued to the user before it is revoked.
 */
const USER_NOT_BEFORE = Symbol('bodhi.session.userNotBefore');
/** When the row was created (epoch ms); absent for a new session and a row older than the column. */
const CREATED_AT = Symbol('bodhi.session.createdAt');
const ROW_FACTS = [STORED_EXPIRY, USER_NOT_BEFORE, CREATED_AT] as const;
type WithRowFacts = { [STORED_EXPIRY]?: number; [USER_NOT_BEFORE]?: number; [CREATED_AT]?: number };

function setRowFact(session: object, fact: symbol, value: number): void {
  Object.defineProperty(session, fact, { value, writable: true, configurable: true });
}

/** What a write stored: the expiry, and the creation time the row has from then on. */
function setWrittenFacts(session: object, expiresAt: number, createdAt: number): void {
  setRowFact(session, STORED_EXPIRY, expiresAt);
  setRowFact(session, CREATED_AT, createdAt);
}

/** The session's user, as saves write it to the `user_id` column; null before login. */
function userIdOf(session: SessionData): string | null {
  return typeof session.user_id === 'string' ? session.user_id : null;
}

/**
 * The instant (epoch ms) before which tokens issued to the session's user are revoked, as
 * read with the session; undefined when none is recorded (or the session was not loaded).
 */
export function userNotBefore(session: SessionData): number | undefined {
  return (session as WithRowFacts)[USER_NOT_BEFORE];
}

/** The device columns a save writes: what `recordSessionDevice` put in the data, or NULL. */
function deviceOf(session: SessionData): {
  userAgent: string | null;
  clientAddress: string | null;
} {
  const device = session.device;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return { userAgent: text(device?.user_agent), clientAddress: text(device?.client_address) };
}

type Name = StatementName<SessionStatements>;
type Params = StatementParams<SessionStatements>;

const SESSION_KEY = new RegExp(SESSION_KEY_PATTERN);

/** Undecryptable rows are warned about once each; this bounds what is remembered. */
const MAX_WARNED = 10_000;

declare module 'express-session' {
  interface SessionData {
    /** Owner of the session; written to the indexed `user_id` column on every save. */
    user_id?: string;
  }
}

type Callback<T = void> = (err?: unknown, result?: T) => void;

/**
 * Adapts a promise to express-session's node-style callback, called once. The callback
 * runs on a tick of its own, outside the promise chain, so that an exception it throws is
 * an uncaught exception (as with MemoryStore) rather than an unhandled rejection.
 */
function settle<T>(work: Promise<T>, cb?: Callback<T>): void {
  work.then(
    (value) => cb && process.nextTick(cb, null, value),
    (err: unknown) => cb && process.nextTick(cb, err),
  );
}

/**
 * The express-session `Store` over the session table, on SQLite or PostgreSQL. Every
 * operation is one SQL statement, with no read-before-write: `set` is an upsert of data,
 * expiry, user id and the device columns together (last seen, user agent, address, for the
 * user's list of sessions); reads filter out expired rows in the query itself.
 * A session's stored expiry is the cookie's (sliding on use), at most `loginTtlMs` ahead
 * before login, and never past its end, `maxLifetimeMs` after the row was created: each
 * write caps it in its own statement, so an ended session reads as expired like any other.
 * Rows are keyed by `sessionKey(sid)`, never by the id: what lists rows (`keys`, `dump`,
 * `all`) shows keys. The promise-returning methods are the API the rest of the server uses.
 */
export class SessionStoreBackend extends Store {
  readonly kind: SessionDbKind;
  private readonly statements: StoreStatements<SessionStatements>;
  private readonly logger = new Logger('SessionStore');
  private readonly ttlMs: number;
  private readonly maxLifetimeMs: number;
  private readonly loginTtlMs: number;
  private readonly touchAfterMs: number;
  private readonly cipher?: SessionCipher;
  private readonly maxDataBytes: number;
  private readonly now: () => number;
  private readonly warnedUndecryptable = new Set<string>();
  /** Decrypted data of rows read, while the rows live (see `decode`). */
  private readonly plaintext = new WeakMap<Row, { key: string; json: string }>();

  constructor(dataSource: DataSource, config: SessionStoreConfig) {
    super();
    this.kind = config.ref.kind;
    this.statements = storeStatements(dataSource, config.ref, sessionStatements, config);
    this.ttlMs = config.ttlMs;
    this.maxLifetimeMs = config.maxLifetimeMs;
    this.loginTtlMs = config.loginTtlMs;
    this.touchAfterMs = config.touchAfterMs ?? 0;
    this.cipher = config.cipher;
    this.maxDataBytes = config.maxDataBytes;
    this.now = config.now ?? Date.now;
  }

  // ---- express-session Store contract -------------------------------------------------

  override get(sid: string, cb: Callback<SessionData | null>): void {
    settle(this.findSession(sid), cb);
  }

  override createSession(req: Parameters<Store['createSession']>[0], data: SessionData) {
    const session = super.createSession(req, data);
    Object.defineProperty(session, LOADED, { value: true });
    const facts = data as WithRowFacts;
    for (const fact of ROW_FACTS) {
      if (facts[fact] !== undefined) setRowFact(session, fact, facts[fact]);
    }
    // The cookie express-session sends next (now + originalMaxAge) ends with the session,
    // so the browser drops it then rather than keep sending an id the server no longer has.
    const left = this.endOf(session) - this.now();
    if (session.cookie.originalMaxAge != null && left < session.cookie.originalMaxAge) {
      session.cookie.originalMaxAge = left;
    }
    return session;
  }

  override set(sid: string, session: SessionData, cb?: Callback): void {
    settle(
      this.saveSession(sid, session).then(() => undefined),
      cb,
    );
  }

  override destroy(sid: string, cb?: Callback): void {
    settle(
      this.destroySession(sid).then(() => undefined),
      cb,
    );
  }

  override touch(sid: string, session: SessionData, cb?: Callback): void {
    settle(
      this.touchSession(sid, session).then(() => undefined),
      cb,
    );
  }

  override all(cb: Callback<Record<string, SessionData>>): void {
    settle(this.allSessions(), cb);
  }

  override length(cb: Callback<number>): void {
    settle(this.countSessions(), cb);
  }

  override clear(cb?: Callback): void {
    settle(
      this.clearSessions().then(() => undefined),
      cb,
    );
  }

  // ---- promise API ---------------------------------------------------------------------

  /** The live session, or null when missing, expired or unreadable (then removed). */
  async findSession(sid: string): Promise<SessionData | null> {
    // No stored id contains NUL (saves refuse it); PostgreSQL would reject the query.
    if (sid.includes('\0')) return null;
    const key = sessionKey(sid);
    const [row] = await this.rows('get', { key, now: this.now() });
    return row ? this.sessionOf(key, row, sid) : null;
  }

  /**
   * Writes data, expiry, user id and device columns in one statement: an upsert for a new
   * session, an update for one loaded from the store (a destroyed session stays destroyed).
   * Refuses oversized sessions whole. Returns false when a loaded session was gone.
   */
  async saveSession(sid: string, session: SessionData): Promise<boolean> {
    const userId = userIdOf(session);
    const loaded = this.isLoaded(session);
    // A refusal counts as an error of the statement the save would have run.
    const statement: Name = loaded ? 'update' : 'set';
    // PostgreSQL text cannot hold NUL; refuse it on both backends alike, before writing.
    if (sid.includes('\0') || userId?.includes('\0')) {
      this.statements.refused(statement, 'invalid_input');
      throw new InvalidSessionInputError('session ids and user ids cannot contain NUL characters');
    }
    const json = JSON.stringify(session);
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > this.maxDataBytes) {
      this.statements.refused(statement, 'too_large');
      throw new SessionTooLargeError(bytes, this.maxDataBytes);
    }
    const key = sessionKey(sid);
    const data = this.cipher ? this.cipher.encrypt(key, json) : json;
    const now = this.now();
    const expiresAt = this.expiresAt(session, now);
    const row = {
      key,
      data,
      expiresAt,
      userId,
      createdAt: now,
      lastSeenAt: now,
      ...deviceOf(session),
      maxLifetimeMs: this.maxLifetimeMs,
    };
    if (!loaded) {
      await this.run('set', row);
      return true;
    }
    const saved = (await this.run('update', row)) > 0;
    if (saved) setWrittenFacts(session, expiresAt, this.createdAt(session, now));
    else this.logger.debug(`Not re-creating ended session ${sessionRef(sid)}`);
    return saved;
  }

  /**
   * Whether express-session loaded `session` from this store, rather than making a new one
   * (whose id no other request knows yet).
   */
  isLoaded(session: SessionData): boolean {
    return (session as { [LOADED]?: boolean })[LOADED] === true;
  }

  /**
   * Writes back `session`, as read with `findSession`, as a save of a loaded session does:
   * an update, never re-creating a row deleted since. Returns false when it was gone.
   */
  async updateSession(sid: string, session: SessionData): Promise<boolean> {
    Object.defineProperty(session, LOADED, { value: true });
    return this.saveSession(sid, session);
  }

  /**
   * Moves the expiry of a live session; data is untouched. True if the session is live.
   * A session read from the store whose stored expiry is still live and would move by less
   * than `touchAfterMs` is left as it is: most requests then cost one read and no write.
   */
  async touchSession(sid: string, session: SessionData): Promise<boolean> {
    const now = this.now();
    const expiresAt = this.expiresAt(session, now);
    const stored = (session as WithRowFacts)[STORED_EXPIRY];
    if (
      stored !== undefined &&
      stored > now &&
      expiresAt >= stored &&
      expiresAt - stored < this.touchAfterMs
    ) {
      return true;
    }
    const touched =
      (await this.run('touch', {
        key: sessionKey(sid),
        now,
        expiresAt,
        lastSeenAt: now,
        createdAt: now,
        maxLifetimeMs: this.maxLifetimeMs,
      })) > 0;
    if (touched && stored !== undefined) {
      setWrittenFacts(session, expiresAt, this.createdAt(session, now));
    }
    return touched;
  }

  async destroySession(sid: string): Promise<boolean> {
    return (await this.run('destroy', { key: sessionKey(sid) })) > 0;
  }

  /** Every live session, by key. */
  async allSessions(): Promise<Record<string, SessionData>> {
    const out: Record<string, SessionData> = {};
    for (const row of await this.rows('all', { now: this.now() })) {
      const key = String(row.id);
      const session = await this.sessionOf(key, row);
      if (session) out[key] = session;
    }
    return out;
  }

  async countSessions(): Promise<number> {
    const [row] = await this.rows('length', { now: this.now() });
    return Number(row.n);
  }

  /** Removes every row, expired ones included; returns how many. */
  async clearSessions(): Promise<number> {
    return this.run('clear', {});
  }

  /** Keys (hashes of the session ids) of the live sessions, sorted. */
  async keys(): Promise<string[]> {
    return (await this.rows('keys', { now: this.now() })).map((r) => String(r.id));
  }

  /** Keys of a user's live sessions, sorted. */
  async sessionKeysForUser(userId: string): Promise<string[]> {
    const rows = await this.rows('sessionKeysForUser', { userId, now: this.now() });
    return rows.map((r) => String(r.id));
  }

  async countForUser(userId: string): Promise<number> {
    const [row] = await this.rows('countForUser', { userId, now: this.now() });
    return Number(row.n);
  }

  /** Removes all of a user's rows; returns how many of them were live sessions. */
  async destroyForUser(userId: string): Promise<number> {
    const now = this.now();
    const removed = await this.rows('destroyForUser', { userId });
    return removed.filter((r) => Number(r.expires_at) > now).length;
  }

  /** A user's live sessions as they see them, newest first, keyed by handle (the row's key). */
  async listForUser(userId: string): Promise<SessionSummary[]> {
    // No stored user id contains NUL (saves refuse it); PostgreSQL would reject the query.
    if (userId.includes('\0')) return [];
    const rows = await this.rows('listForUser', { userId, now: this.now() });
    return rows.map((row) => {
      const createdAt = row.created_at == null ? null : Number(row.created_at);
      const userAgent = row.user_agent == null ? null : String(row.user_agent);
      const { browser, os } = describeDevice(userAgent ?? undefined);
      return {
        handle: String(row.id),
        createdAt,
        lastSeenAt: row.last_seen_at == null ? null : Number(row.last_seen_at),
        expiresAt: Number(row.expires_at),
        maxExpiresAt: createdAt === null ? null : createdAt + this.maxLifetimeMs,
        userAgent,
        clientAddress: row.client_address == null ? null : String(row.client_address),
        browser: browser ?? null,
        os: os ?? null,
      };
    });
  }

  /**
   * Ends the live session of `userId` whose key is `key` (another user's key ends nothing);
   * its data, or undefined when there was none (or it was unreadable, see `endedSessions`).
   */
  async destroyUserSession(userId: string, key: string): Promise<SessionData | undefined> {
    // PostgreSQL refuses NUL in text; nothing but a key can match anyway.
    if (!SESSION_KEY.test(key) || userId.includes('\0')) return undefined;
    const rows = await this.rows('destroyUserSession', { key, userId, now: this.now() });
    return this.endedSessions(rows)[0];
  }

  /**
   * Ends every session of `userId` but the one keyed `keepKey` (all when undefined); the
   * data of the live ones ended.
   */
  async destroyUserSessionsExcept(userId: string, keepKey?: string): Promise<SessionData[]> {
    if (userId.includes('\0')) return [];
    const now = this.now();
    // No row is keyed by the empty string: with nothing to keep, every row goes.
    const rows = await this.rows('destroyUserSessionsExcept', {
      userId,
      keepKey: keepKey ?? '',
    });
    return this.endedSessions(rows.filter((row) => Number(row.expires_at) > now));
  }

  /** `[key, userId | null]` for every live session, sorted by key. */
  async dump(): Promise<[string, string | null][]> {
    return (await this.rows('dump', { now: this.now() })).map((r) => [
      String(r.id),
      r.user_id == null ? null : String(r.user_id),
    ]);
  }

  /** Deletes up to `batchSize` expired rows in one statement; returns how many. */
  async pruneBatch(batchSize: number): Promise<number> {
    return this.run('pruneBatch', { now: this.now(), batchSize });
  }

  /** One round trip to the database; throws when it does not answer within `timeoutMs`. */
  async ping(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`session store did not answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.rows('ping', {}), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- internals -----------------------------------------------------------------------

  /**
   * The expiry a write at `now` stores (epoch ms by the app clock): the cookie's when it
   * has one, else now + TTL; at most now + login TTL for a session without a user; never
   * past the session's end. The statement caps it again from the row's own creation time
   * (a second save of a new session, a row another instance stamped meanwhile).
   */
  private expiresAt(session: SessionData, now: number): number {
    const expires = session.cookie?.expires;
    const ms = expires ? new Date(expires).getTime() : NaN;
    const sliding = Number.isFinite(ms) ? ms : now + this.ttlMs;
    const idle = userIdOf(session) === null ? Math.min(sliding, now + this.loginTtlMs) : sliding;
    return Math.min(idle, this.endOf(session, now));
  }

  /** The row's creation time, as a write at `now` leaves it (it stamps a row without one). */
  private createdAt(session: SessionData, now: number): number {
    return (session as WithRowFacts)[CREATED_AT] ?? now;
  }

  /** When the session ends however active it is: its creation plus the maximum lifetime. */
  private endOf(session: SessionData, now = this.now()): number {
    return this.createdAt(session, now) + this.maxLifetimeMs;
  }

  /**
   * The session a row holds, its cookie expiring when the row does: `touch` moves the
   * column alone, so the expiry inside the data may be stale. A cookie without an expiry
   * (a browser-session cookie) is left without one. `sid`, when known, reads rows an
   * earlier release encrypted with the id itself as associated data.
   */
  private async sessionOf(key: string, row: Row, sid?: string): Promise<SessionData | null> {
    const session = await this.parse(key, row, sid);
    if (!session) return null;
    const expiresAt = Number(row.expires_at);
    if (session.cookie?.expires) {
      // The JSON form, as in the data: express-session's createSession makes it a Date.
      (session.cookie as { expires: unknown }).expires = new Date(expiresAt).toISOString();
    }
    setRowFact(session, STORED_EXPIRY, expiresAt);
    if (row.created_at != null) setRowFact(session, CREATED_AT, Number(row.created_at));
    if (row.not_before != null) setRowFact(session, USER_NOT_BEFORE, Number(row.not_before));
    return session;
  }

  /**
   * A row that does not decrypt (key not configured, tampered, moved under another id) is
   * treated as absent and warned about once — but kept, since restoring a missing key
   * brings it back. A row that is not a JSON object is treated as absent and removed (only
   * if it still holds the same bytes, so a concurrent good write survives), with a warning.
   */
  private async parse(key: string, row: Row, sid?: string): Promise<SessionData | null> {
    const data = String(row.data);
    let session: SessionData | null;
    try {
      session = this.decode(key, data, sid, row);
    } catch (e) {
      if (!(e instanceof SessionDecryptError)) throw e;
      this.warnUndecryptable(key, e.message);
      return null;
    }
    if (session) return session;
    const ref = keyRef(key);
    this.logger.warn(`Removing session ${ref}: stored data is not a session object`);
    await this.run('destroyIfData', { key, data }).catch((e: Error) =>
      this.logger.warn(`Could not remove unreadable session ${ref}: ${e.message}`),
    );
    return null;
  }

  /**
   * The session object a row's data holds, or null; throws SessionDecryptError. `row`, when
   * given, memoizes the decrypted JSON on it: the session cache hands out the same row
   * object on every hit, which then costs a JSON.parse, not a decryption (the largest part
   * of a hit). The memo dies with the row, and is bound to the key it was decrypted for.
   */
  private decode(key: string, data: string, sid?: string, row?: Row): SessionData | null {
    const memo = row && this.plaintext.get(row);
    const json = memo?.key === key ? memo.json : this.decrypt(key, data, sid);
    if (row && memo?.key !== key) this.plaintext.set(row, { key, json });
    try {
      const value: unknown = JSON.parse(json);
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as SessionData;
    } catch {
      // not JSON
    }
    return null;
  }

  /**
   * The data of deleted rows, for what their ending must revoke. A row that does not read
   * back (undecryptable, not a session) is ended all the same, with a warning: nothing of
   * it can be revoked.
   */
  private endedSessions(rows: Row[]): SessionData[] {
    const ended: SessionData[] = [];
    for (const row of rows) {
      const key = String(row.id);
      let session: SessionData | null;
      try {
        session = this.decode(key, String(row.data));
      } catch (e) {
        if (!(e instanceof SessionDecryptError)) throw e;
        session = null;
      }
      if (session) ended.push(session);
      else
        this.logger.warn(
          `Ended session ${keyRef(key)}; its data did not read, so none of its tokens are revoked`,
        );
    }
    return ended;
  }

  /** Rows are bound to their key; those of releases before hashed keys, to the id. */
  private decrypt(key: string, data: string, sid?: string): string {
    if (!this.cipher) {
      if (SessionCipher.isEncrypted(data))
        throw new SessionDecryptError('encrypted, but no encryption keys are configured');
      return data;
    }
    try {
      return this.cipher.decrypt(key, data);
    } catch (e) {
      if (sid === undefined || !(e instanceof SessionDecryptError)) throw e;
      try {
        return this.cipher.decrypt(sid, data);
      } catch {
        throw e;
      }
    }
  }

  private warnUndecryptable(key: string, reason: string): void {
    const ref = keyRef(key);
    if (this.warnedUndecryptable.has(ref)) return;
    if (this.warnedUndecryptable.size >= MAX_WARNED) this.warnedUndecryptable.clear();
    this.warnedUndecryptable.add(ref);
    this.logger.warn(`Ignoring session ${ref}: ${reason}`);
  }

  private rows<N extends Name>(statement: N, params: Params[N]): Promise<Row[]> {
    return this.statements.rows(statement, params);
  }

  private run<N extends Name>(statement: N, params: Params[N]): Promise<number> {
    return this.statements.run(statement, params);
  }
}
