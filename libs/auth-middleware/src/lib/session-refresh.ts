import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import {
  AccessTokenClaims,
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  AuthService,
  BodhiMetrics,
  DefaultSessionService,
  InvalidAccessTokenError,
  RevocationService,
  sessionRef,
  type VerifiedAccessToken,
} from '@bodhi/services';
import type { Request } from 'express';
import type { SessionData } from 'express-session';
import { AUTH_SESSION_KEYS, type RefreshLease } from './auth-context.js';

/** A login's tokens as its session holds them. */
export interface LoginTokens {
  access_token: string;
  refresh_token?: string;
}

/**
 * A session's refresh as one request saw it end: `refreshed` (this request's refresh got the
 * new tokens from the provider) or `reused` (another request's, here or on another instance).
 */
export interface RefreshedLogin {
  claims: AccessTokenClaims;
  tokens: LoginTokens;
  outcome: 'refreshed' | 'reused';
}

/** How often a refresh reads again a session another instance is refreshing: first, and at most. */
const LEASE_POLL_FIRST_MS = 50;
const LEASE_POLL_MAX_MS = 1_000;

/** What a refresh found in its session, under the session's lock. */
type Claim =
  | { kind: 'ended'; why: string }
  /** Another refresh has saved new tokens since the request loaded the session. */
  | { kind: 'rotated'; tokens: LoginTokens }
  /** Another instance is refreshing now. */
  | { kind: 'leased' }
  /** This refresh is to call the provider, with `refreshToken`, under `lease`. */
  | { kind: 'claimed'; lease: RefreshLease; refreshToken: string };

/** One refresh of a session on this instance, which the session's requests wait for. */
interface Flight {
  done: Promise<RefreshedLogin>;
  /** Resolves once the refresh waits on the provider (its own call, or another instance's). */
  atProvider: Promise<void>;
}

/**
 * Refreshes an expired session token exactly once, however many requests of the session
 * (on however many instances) find it expired together, without holding the session's lock
 * (on PostgreSQL a pooled connection in an open transaction, and one of a few slots) while
 * the provider answers: a stalled provider must cost the requests that need it, not every
 * logout waiting for the lock or a slot.
 *
 * The lock is held for database work only. Under it, the refresh records a lease in the
 * session (`refresh_lease`: who refreshes, and until when) and lets go; it calls the provider
 * with no lock held, then under the lock again saves the new tokens, if its lease is still
 * there: a logout meanwhile ended the session, and the new tokens are revoked, never dropped.
 * The session's requests on this instance wait for the one refresh; a refresh on another
 * instance finds the lease and reads the session again (backing off from 50 ms to 1 s) until
 * the new tokens are there or the lease has gone. A lease outlives a holder that died only
 * by its term (the refresh call's bound, and a key-set fetch's, with one more to spare).
 *
 * A request waits on the provider for BODHI_AUTH_TIMEOUT_MS at most, then fails with
 * AuthProviderUnavailableError (503); the refresh goes on, up to the refresh call's own
 * bound (REFRESH_CALL_TIMEOUT_MS), so that what a stalled provider does once it resumes (it
 * may spend the old refresh token) is saved, and the next request finds it. When the
 * provider does not answer at all, nothing of the login changes: the lease goes, the old
 * tokens stay. Only the provider's refusal (AuthGrantRejectedError) or a new token that
 * fails verification (InvalidAccessTokenError) ends the login.
 */
export class SessionRefresh {
  private readonly logger = new Logger(SessionRefresh.name);
  /** This instance's refresh in progress, by session id. */
  private readonly flights = new Map<string, Flight>();
  private readonly leaseMs: number;

  constructor(
    private readonly auth: AuthService,
    private readonly sessions: DefaultSessionService,
    private readonly revocation: RevocationService,
    private readonly metrics: BodhiMetrics,
  ) {
    this.leaseMs = auth.refreshTimeoutMs() + 2 * auth.timeoutMs();
  }

  /**
   * The login of `req`'s session with fresh tokens, which are then on `req.session` (stored
   * already). `staleToken` is the expired access token the request found.
   */
  async refresh(req: Request, staleToken: string): Promise<RefreshedLogin> {
    const sid = req.sessionID;
    let flight = this.flights.get(sid);
    const joined = flight !== undefined;
    if (!flight) {
      flight = this.takeOff(sid, staleToken);
      this.flights.set(sid, flight);
    }
    const refreshed = await this.waitFor(sid, flight);
    adopt(req.session, refreshed.tokens);
    return joined ? { ...refreshed, outcome: 'reused' } : refreshed;
  }

  private takeOff(sid: string, staleToken: string): Flight {
    let atProvider!: () => void;
    const flight: Flight = {
      atProvider: new Promise<void>((resolve) => (atProvider = resolve)),
      done: this.lead(sid, staleToken, () => atProvider()).finally(() => {
        if (this.flights.get(sid) === flight) this.flights.delete(sid);
      }),
    };
    // A refresh that ends after every request gave up on it has no one to tell.
    flight.done.catch(() => undefined);
    return flight;
  }

  /**
   * The flight's outcome, waited for BODHI_AUTH_TIMEOUT_MS at most once it waits on the
   * provider: a request answers in seconds however long the provider takes.
   */
  private async waitFor(sid: string, flight: Flight): Promise<RefreshedLogin> {
    const timeoutMs = this.auth.timeoutMs();
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const stalled = flight.atProvider.then(
      () =>
        new Promise<never>((_, reject) => {
          if (answered) return;
          timer = setTimeout(
            () =>
              reject(
                new AuthProviderUnavailableError(
                  `the identity provider has not answered the refresh of session ${sessionRef(sid)} within ${timeoutMs} ms`,
                ),
              ),
            timeoutMs,
          );
        }),
    );
    try {
      return await Promise.race([flight.done, stalled]);
    } finally {
      answered = true;
      clearTimeout(timer);
    }
  }

  private async lead(
    sid: string,
    staleToken: string,
    atProvider: () => void,
  ): Promise<RefreshedLogin> {
    const giveUpAt = Date.now() + this.leaseMs;
    let stale = staleToken;
    let pollMs = LEASE_POLL_FIRST_MS;
    for (let first = true; ; first = false) {
      const claim = await this.claim(sid, stale, first);
      if (claim.kind === 'ended') throw new AuthGrantRejectedError(claim.why);
      if (claim.kind === 'claimed') {
        atProvider();
        return this.refreshClaimed(sid, claim);
      }
      if (claim.kind === 'rotated') {
        const verified = await this.auth.verifyAccessToken(claim.tokens.access_token);
        if (!verified.expired)
          return { claims: verified.claims, tokens: claim.tokens, outcome: 'reused' };
        // Refreshed, and expired again already: what is there now is what to refresh.
        stale = claim.tokens.access_token;
      }
      if (Date.now() >= giveUpAt)
        throw new AuthProviderUnavailableError(
          `the refresh of session ${sessionRef(sid)} by another instance has not finished`,
        );
      if (claim.kind === 'leased') {
        atProvider();
        await delay(pollMs);
        pollMs = Math.min(2 * pollMs, LEASE_POLL_MAX_MS);
      }
    }
  }

  /**
   * Takes the refresh of session `sid`, or says why not, under the session's lock. The wait
   * for the lock is observed once per refresh (`measured`): from asking until it is held, or
   * until asking failed (a lock timeout), the longest waits of all.
   */
  private async claim(sid: string, stale: string, measured: boolean): Promise<Claim> {
    const endWait = measured ? this.metrics.refreshLockWait.startTimer() : undefined;
    let waiting = measured;
    const held = () => {
      if (waiting) endWait?.();
      waiting = false;
    };
    try {
      return await this.sessions.withSessionLock(sid, async () => {
        held();
        return this.claimHeld(sid, stale);
      });
    } finally {
      held();
    }
  }

  private async claimHeld(sid: string, stale: string): Promise<Claim> {
    const store = this.sessions.getSessionStore();
    const current = await store.findSession(sid);
    if (!current?.access_token) return { kind: 'ended', why: 'the session has ended' };
    if (current.access_token !== stale) {
      const { access_token, refresh_token } = current;
      return { kind: 'rotated', tokens: { access_token, refresh_token } };
    }
    const now = Date.now();
    if (current.refresh_lease && current.refresh_lease.until > now) return { kind: 'leased' };
    if (!current.refresh_token) return { kind: 'ended', why: 'the session has no refresh token' };
    const lease = { id: randomUUID(), until: now + this.leaseMs };
    current.refresh_lease = lease;
    if (!(await store.updateSession(sid, current)))
      return { kind: 'ended', why: 'the session has ended' };
    return { kind: 'claimed', lease, refreshToken: current.refresh_token };
  }

  /** The provider's part, with no lock held, then its outcome recorded under the lock. */
  private async refreshClaimed(
    sid: string,
    { lease, refreshToken }: Extract<Claim, { kind: 'claimed' }>,
  ): Promise<RefreshedLogin> {
    this.logger.debug(`Refreshing tokens of session ${sessionRef(sid)} at the identity provider`);
    let issued;
    try {
      issued = await this.auth.refresh(refreshToken);
    } catch (e) {
      // No new tokens: the stored ones stay, unless the provider refused them. When the
      // store fails here too, the lease runs out by its term; the provider's outcome stands.
      await this.settle(sid, lease, (current) => {
        if (e instanceof AuthGrantRejectedError) endLogin(current);
      }).catch((storeError: Error) =>
        this.logger.warn(
          `Could not let go of the refresh lease of session ${sessionRef(sid)}: ${storeError.message}`,
        ),
      );
      throw e;
    }
    // The provider has issued new tokens, and may have spent the old refresh token for good
    // (rotation): from here they are kept, or revoked.
    const tokens = { access_token: issued.accessToken, refresh_token: issued.refreshToken };
    let verified: VerifiedAccessToken | undefined;
    let unchecked: unknown;
    try {
      verified = await this.auth.verifyAccessToken(tokens.access_token);
    } catch (e) {
      // Not checked (the key set could not be had): kept, for the next request to check.
      // Checked and refused: nothing can use them.
      unchecked = e;
    }
    const refused = unchecked instanceof InvalidAccessTokenError;
    let saved;
    try {
      saved = await this.settle(sid, lease, (current) =>
        refused ? endLogin(current) : adopt(current, tokens),
      );
    } catch (storeError) {
      // Not stored, so nothing will use them: revoked (the answer is the store's 503).
      this.revocation.revokeRefreshToken(tokens.refresh_token, 'session_ended');
      throw storeError;
    }
    if (refused || saved !== 'saved') {
      this.revocation.revokeRefreshToken(tokens.refresh_token, 'session_ended');
      if (saved === 'ended')
        throw new AuthGrantRejectedError('the session ended while it was refreshed');
      if (saved === 'superseded')
        throw new AuthProviderUnavailableError(
          `the refresh of session ${sessionRef(sid)} outlived its lease, and another took over`,
        );
    }
    if (!verified) throw unchecked;
    this.logger.debug(`Refreshed tokens of session ${sessionRef(sid)}`);
    return { claims: verified.claims, tokens, outcome: 'refreshed' };
  }

  /**
   * Ends the refresh's lease, under the session's lock: `change` makes what the session is
   * to hold (the new tokens, an ended login, or as it was), written with the lease gone.
   * Nothing is written when the session or its login has gone meanwhile (`ended`: a logout,
   * a revocation) or another refresh took over a lease that ran out (`superseded`).
   */
  private settle(
    sid: string,
    lease: RefreshLease,
    change: (current: SessionData) => void,
  ): Promise<'saved' | 'ended' | 'superseded'> {
    const store = this.sessions.getSessionStore();
    return this.sessions.withSessionLock(sid, async () => {
      const current = await store.findSession(sid);
      if (!current?.access_token) return 'ended';
      if (current.refresh_lease?.id !== lease.id) return 'superseded';
      delete current.refresh_lease;
      change(current);
      return (await store.updateSession(sid, current)) ? 'saved' : 'ended';
    });
  }
}

/** Puts `tokens` in a session, which holds no lease of its own from then on. */
function adopt(session: SessionData, tokens: LoginTokens): void {
  session.access_token = tokens.access_token;
  session.refresh_token = tokens.refresh_token;
  delete session.refresh_lease;
}

/** Removes the login from a session (as clearLogin does from a request's). */
function endLogin(session: SessionData): void {
  for (const key of AUTH_SESSION_KEYS) delete session[key];
}
