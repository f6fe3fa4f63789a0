import { Injectable } from '@nestjs/common';
import { parse as parseCookies } from 'cookie';
import { unsign } from 'cookie-signature';
import type { Request, RequestHandler, Response } from 'express';
import session, { SessionData, SessionOptions, Store } from 'express-session';
import { promisify } from 'node:util';
import {
  InjectResolvedSessionOptions,
  SECURE_SESSION_COOKIE_NAME,
  SESSION_COOKIE_NAME,
} from './session.constants.js';
import type { ResolvedSessionOptions } from './config/session.options.js';
import { SessionStoreBackend } from './store/session-store.backend.js';
import { SessionLock } from './locks/session-lock.js';
import { SessionRevocations } from '../revocation/session-revocations.js';
import { sessionKey } from './store/session-key.js';
import type { ClientAddressMode, SessionSummary } from './store/session-device.js';

/**
 * What every layer of the server injects to work with sessions: the express-session
 * middleware over our store, and the per-user and admin operations on the store.
 */
@Injectable()
export class DefaultSessionService {
  private middleware?: RequestHandler;

  constructor(
    private readonly store: SessionStoreBackend,
    @InjectResolvedSessionOptions() private readonly options: ResolvedSessionOptions,
    private readonly lock: SessionLock,
    private readonly revocations: SessionRevocations,
  ) {}

  /**
   * Runs `work` holding the lock of session `sid` — across every instance sharing the
   * database on PostgreSQL. For work that must happen once per session, like a refresh.
   */
  withSessionLock<T>(sid: string, work: () => Promise<T>): Promise<T> {
    // Locked by key: the id itself never reaches the database, not even as a lock name.
    return this.lock.run(sessionKey(sid), work);
  }

  /**
   * A read-modify-write of stored session `sid` that no other holder of its lock can
   * interleave with (a refresh, a logout, another call of this): under the lock, the row is
   * read again, `change` edits what was read in place, and the edit is written before the
   * lock goes, as an update only. Resolves to what `change` returned, or null when there was
   * no row to change: none when read, or it was deleted before the write (a role change, a
   * reset, the pruner; those take no session lock), which is then not re-created. When
   * `change` throws, nothing is written. For state that must be taken once, as a login's:
   * the request's own copy, loaded before the lock, may already be stale.
   * `store` is the one the request's session lives in (`req.sessionStore`): ours, or a
   * stand-in the session middleware was given (a benchmark's MemoryStore), which is read and
   * written through express-session's Store interface.
   */
  updateStoredSession<T>(
    sid: string,
    change: (stored: SessionData) => T,
    store: Store = this.store,
  ): Promise<T | null> {
    const rows = store === this.store ? this.store : storeRows(store);
    return this.withSessionLock(sid, async () => {
      const stored = await rows.findSession(sid);
      if (!stored) return null;
      const result = change(stored);
      return (await rows.updateSession(sid, stored)) ? result : null;
    });
  }

  /** The session cookie's name: `__Host-` prefixed when it is Secure (served over https). */
  get cookieName(): string {
    return this.options.secureCookie ? SECURE_SESSION_COOKIE_NAME : SESSION_COOKIE_NAME;
  }

  /** Where and how the session cookie is set, and cleared. */
  private get cookieScope() {
    return {
      httpOnly: true,
      sameSite: 'strict',
      secure: this.options.secureCookie,
      path: '/',
    } as const;
  }

  /**
   * express-session's options over the store: cookie `cookieName`, HttpOnly,
   * SameSite=Strict, Secure behind https, signed; no empty sessions stored, no rewrite of
   * unchanged ones. The cookie slides to now + TTL on every use (`rolling`); the row follows
   * through `touch`, written once it would move by `touchAfterSeconds` or more.
   */
  sessionOptions(): SessionOptions {
    return {
      store: this.store,
      name: this.cookieName,
      secret: this.options.secrets,
      saveUninitialized: false,
      resave: false,
      rolling: true,
      // Lets express-session see https through a TLS-terminating proxy when Secure is on.
      proxy: this.options.secureCookie ? true : undefined,
      cookie: { ...this.cookieScope, maxAge: this.options.ttlMs },
    };
  }

  /**
   * The session id the request's cookie names, its signature checked as express-session
   * checks it (any of the secrets), whether or not the store gave back its session: a row
   * that does not decrypt (its key not configured) is absent to express-session, which then
   * works on a fresh id, yet ending the session must end that row. Undefined without a
   * validly signed cookie.
   */
  cookieSessionId(req: Request): string | undefined {
    const header = req.headers.cookie;
    const raw = header ? parseCookies(header)[this.cookieName] : undefined;
    if (!raw?.startsWith('s:')) return undefined;
    for (const secret of this.options.secrets) {
      const sid = unsign(raw.slice(2), secret);
      if (sid !== false) return sid;
    }
    return undefined;
  }

  /**
   * Removes the row of session `sid`, under its lock, without reading it: for a row the
   * store could not decrypt. Whether there was one.
   */
  endUnreadSession(sid: string): Promise<boolean> {
    return this.withSessionLock(sid, () => this.store.destroySession(sid));
  }

  /**
   * Whether the request's session was read from its store (its cookie named a stored one),
   * rather than made for this request. Of a stand-in store the session middleware was given
   * (a benchmark's MemoryStore) that cannot be told: it counts as stored.
   */
  isStoredSession(req: Request): boolean {
    return (req.sessionStore as unknown) !== this.store || this.store.isLoaded(req.session);
  }

  /** Tells the browser to drop the session cookie (of a session that has ended). */
  clearCookie(res: Response): void {
    res.clearCookie(this.cookieName, this.cookieScope);
  }

  /**
   * Makes `session`, which holds only a login in progress, and its cookie live the login TTL
   * (its row is stored for no longer): a browser keeps no cookie of an abandoned login for
   * the hours of a logged-in session. The login's own session, made when it completes, has
   * the session TTL again (a new session, a new cookie).
   */
  expireAsLoginInProgress(session: session.Session): void {
    session.cookie.maxAge = this.options.loginTtlMs;
  }

  /** express-session over the store, with `sessionOptions()`; one per service. */
  sessionMiddleware(): RequestHandler {
    this.middleware ??= session(this.sessionOptions());
    return this.middleware;
  }

  getSessionStore(): SessionStoreBackend {
    return this.store;
  }

  /**
   * Logs a user out everywhere: every token issued to the user until now is revoked (on
   * every instance, bearer tokens included), then the user's sessions are removed. Returns
   * the number of live sessions removed.
   */
  async clearSessionsForUser(userId: string): Promise<number> {
    await this.revocations.revokeUser(userId);
    return this.store.destroyForUser(userId);
  }

  /**
   * Removes every session row, after revoking every token of every user who had one (as
   * `clearSessionsForUser` does for one user); returns how many rows were removed.
   */
  async clearAllSessions(): Promise<number> {
    await this.revocations.revokeSessionUsers();
    return this.store.clearSessions();
  }

  /** How much of a client address a session keeps (BODHI_SESSION_CLIENT_ADDRESS), for `recordSessionDevice`. */
  get clientAddressMode(): ClientAddressMode {
    return this.options.clientAddress;
  }

  /** The user's live sessions, newest first. One SQL statement. */
  listUserSessions(userId: string): Promise<SessionSummary[]> {
    return this.store.listForUser(userId);
  }

  /**
   * Ends the user's live session with this handle; the ended session's data (for its tokens
   * to be revoked), or undefined when the user has none with that handle (another user's
   * handle included). One statement (DELETE … RETURNING). Takes effect on every instance:
   * the row is gone, and a save of it in flight updates nothing. Under the session's lock
   * (keyed by its key, the handle), as logout is: a refresh in flight on another instance
   * saves its rotated tokens first, and they are what comes back to be revoked.
   */
  endUserSession(userId: string, handle: string): Promise<SessionData | undefined> {
    return this.lock.run(handle, () => this.store.destroyUserSession(userId, handle));
  }

  /**
   * Ends every session of the user except the one with session id `keepSid` (undefined:
   * all); the ended live sessions' data. One statement.
   */
  endOtherUserSessions(userId: string, keepSid?: string): Promise<SessionData[]> {
    return this.store.destroyUserSessionsExcept(
      userId,
      keepSid === undefined ? undefined : sessionKey(keepSid),
    );
  }

  countSessionsForUser(userId: string): Promise<number> {
    return this.store.countForUser(userId);
  }

  getSessionKeysForUser(userId: string): Promise<string[]> {
    return this.store.sessionKeysForUser(userId);
  }

  dumpAllSessions(): Promise<[string, string | null][]> {
    return this.store.dump();
  }

  /** Health check: resolves when the store answers `SELECT 1` within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void> {
    return this.store.ping(timeoutMs);
  }
}

/** findSession/updateSession over any express-session Store (which has no update-only write). */
function storeRows(store: Store): Pick<SessionStoreBackend, 'findSession' | 'updateSession'> {
  const get = promisify(store.get.bind(store)) as (sid: string) => Promise<SessionData | null>;
  const set = promisify(store.set.bind(store)) as (sid: string, data: SessionData) => Promise<void>;
  return {
    findSession: async (sid) => (await get(sid)) ?? null,
    updateSession: async (sid, data) => {
      await set(sid, data);
      return true;
    },
  };
}
