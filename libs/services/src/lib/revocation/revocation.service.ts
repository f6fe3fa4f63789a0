import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { decodeJwt } from 'jose';
import { AuthService } from '../auth/auth.service.js';
import type { AccessTokenClaims } from '../auth/auth.service.js';
import {
  AuthGrantRejectedError,
  IdentityProviderAdminUnsupportedError,
} from '../auth/auth.errors.js';
import { IdentityProviderAdmin } from '../auth/identity-provider-admin.js';
import { BodhiMetrics } from '../metrics/bodhi-metrics.js';
import { DefaultSessionService } from '../session/session.service.js';
import {
  PendingRevocation,
  PendingRevocationKind,
  SessionRevocations,
} from './session-revocations.js';

/** A token this server has revoked (logout, a role change): 401 `token_revoked`. */
export class TokenRevokedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenRevokedError';
  }
}

/**
 * Why access ended, as `bodhi_revocations_total` labels it: a logout, the owner ending one
 * of their sessions or all their others, an admin ending a user's sessions, a role change.
 */
export type RevocationReason =
  'logout' | 'session_ended' | 'other_sessions_ended' | 'admin_revoke' | 'role_change';

/** What a provider answered a revocation (the request's own or a queued retry's). */
type ProviderOutcome = 'revoked' | 'refused';

/** The first retry of a revocation the provider did not take, and the longest wait between two. */
export const REVOCATION_RETRY_FIRST_MS = 30_000;
export const REVOCATION_RETRY_MAX_MS = 60 * 60_000;
/** How long a revocation is retried before it is given up (and logged as an error). */
export const REVOCATION_GIVE_UP_MS = 24 * 60 * 60_000;
/** Queued revocations one retry round sends. */
const RETRY_BATCH = 50;

/**
 * Ending access, not only sessions. Revoking a user (a role change, an admin's "log out
 * everywhere") moves the user's not-before instant, so every token issued to them earlier
 * stops working on every instance, ends their sessions, and ends their grants at the
 * provider. Ending a login (logout) revokes its access token here until it expires and its
 * refresh token at the provider (RFC 7009), in the background. The provider's part never
 * holds the user's part up: when the provider does not answer, the revocation is queued in
 * the session database, logged, and retried (by any instance) with backoff.
 */
@Injectable()
export class RevocationService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RevocationService.name);
  private timer?: NodeJS.Timeout;
  private retrying?: Promise<number>;
  /** Set at shutdown: a retry round in flight stops after the item it is sending. */
  private stopping = false;
  /** Refresh-token revocations being sent in the background (`revokeRefreshToken`). */
  private readonly sending = new Set<Promise<void>>();

  constructor(
    private readonly auth: AuthService,
    private readonly provider: IdentityProviderAdmin,
    private readonly sessions: DefaultSessionService,
    private readonly revocations: SessionRevocations,
    private readonly metrics: BodhiMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.retryRound(), REVOCATION_RETRY_FIRST_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.retrying?.catch(() => undefined);
    await this.settled();
  }

  /**
   * Throws TokenRevokedError when a bearer token was revoked: its own `jti` (a logout), or
   * every token of its user issued before the user's not-before instant.
   */
  async checkBearer(claims: AccessTokenClaims): Promise<void> {
    const state = await this.revocations.tokenState(claims.sub, claims.jti);
    if (state.revoked) throw new TokenRevokedError('the token was revoked at logout');
    if (issuedBefore(claims, state.notBefore))
      throw new TokenRevokedError("the token was issued before its user's access was revoked");
  }

  /**
   * Throws TokenRevokedError when a session's login predates its user's not-before instant
   * (read with the session). A login is judged by when it started (`loginAt`, epoch ms by
   * this server's clock, taken before the code exchange), which a revocation can be ordered
   * against to the millisecond; sessions of earlier releases, without it, by the token's
   * iat. A token issued a whole second or more before the instant is revoked either way,
   * so an instance whose clock runs ahead cannot let an earlier login through.
   */
  checkSession(
    claims: AccessTokenClaims,
    notBefore: number | undefined,
    loginAt: number | undefined,
  ): void {
    if (notBefore === undefined) return;
    const revoked =
      loginAt === undefined
        ? issuedBefore(claims, notBefore)
        : loginAt < notBefore || (claims.iat + 1) * 1000 <= notBefore;
    if (revoked) throw new TokenRevokedError("the login predates its user's access being revoked");
  }

  /**
   * Revokes every token issued to `userId` until now, here and at the provider, and ends
   * the user's sessions; returns how many live sessions ended. The not-before instant is
   * written first, so any request that reads the user's session or bearer after it is
   * refused (one already past that read finishes as it began).
   */
  async revokeUser(userId: string, reason: RevocationReason): Promise<number> {
    const ended = await this.sessions.clearSessionsForUser(userId);
    this.sessionsEnded(reason, ended);
    await this.atProvider('user_grants', userId, reason);
    return ended;
  }

  /** Counts sessions a route ended (their rows removed) for `reason`. */
  sessionsEnded(reason: RevocationReason, count: number): void {
    if (count > 0) this.metrics.revocations.inc({ reason, outcome: 'ended' }, count);
  }

  /**
   * Makes a logged-out session's access token unusable here until it expires (a bearer of
   * it gets 401 on every instance). Throws when the session database fails.
   */
  async revokeAccessToken(accessToken: string | undefined): Promise<void> {
    const claims = accessToken ? decodeOwnToken(accessToken) : undefined;
    if (claims?.jti && typeof claims.exp === 'number') {
      await this.revocations.revokeToken(claims.jti, claims.exp * 1000);
    }
  }

  /**
   * Revokes an ended session's refresh token at the provider (RFC 7009), in the background:
   * the session has ended already, and its ending waits on no provider (a stalled one would
   * hold a logout for as long as BODHI_AUTH_TIMEOUT_MS). Never throws: a failure is logged
   * and queued for retry. `settled()` waits for the ones in flight.
   */
  revokeRefreshToken(refreshToken: string | undefined, reason: RevocationReason): void {
    if (!refreshToken) return;
    const sent: Promise<void> = this.atProvider('refresh_token', refreshToken, reason)
      .catch((e: Error) =>
        this.logger.error(`Could not queue a refresh-token revocation: ${e.message}`),
      )
      .finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }

  /**
   * Resolves once every refresh-token revocation started so far has been sent, refused or
   * queued: each is one provider call, bounded by BODHI_AUTH_TIMEOUT_MS, and at most one
   * write. Shutdown waits for it, so a revocation in flight is never lost to a clean stop.
   */
  async settled(): Promise<void> {
    await Promise.all([...this.sending]);
  }

  /** One round of queued revocations that are due; returns how many the provider took. */
  retryPending(): Promise<number> {
    this.retrying ??= this.retryDue().finally(() => (this.retrying = undefined));
    return this.retrying;
  }

  private async retryRound(): Promise<void> {
    try {
      await this.retryPending();
    } catch (e) {
      this.logger.warn(`Retrying provider revocations failed: ${(e as Error).message}`);
    }
  }

  private async retryDue(): Promise<number> {
    let done = 0;
    for (const pending of await this.revocations.due(RETRY_BATCH)) {
      if (this.stopping) break;
      if (await this.retry(pending)) done++;
    }
    return done;
  }

  private async retry(pending: PendingRevocation): Promise<boolean> {
    if (pending.subject === undefined) {
      this.logger.error(
        `Dropping a queued revocation of ${describe(pending.kind)}: it cannot be decrypted ` +
          '(its encryption key is no longer configured)',
      );
      await this.revocations.dequeue(pending.id);
      this.countAtProvider('retry', 'given_up');
      return false;
    }
    let outcome: ProviderOutcome;
    try {
      outcome = await this.send(pending.kind, pending.subject);
    } catch (e) {
      if (Date.now() >= pending.giveUpAt) {
        this.logger.error(
          `Giving up revoking ${describe(pending.kind)} at the identity provider after ` +
            `${pending.attempts + 1} attempts: ${(e as Error).message}`,
        );
        await this.revocations.dequeue(pending.id);
        this.countAtProvider('retry', 'given_up');
        return false;
      }
      const attempts = pending.attempts + 1;
      await this.revocations.reschedule(pending.id, attempts, Date.now() + backoff(attempts));
      this.countAtProvider('retry', 'queued');
      return false;
    }
    await this.revocations.dequeue(pending.id);
    this.countAtProvider('retry', outcome);
    this.logger.log(`Revoked ${describe(pending.kind)} at the identity provider on retry`);
    return true;
  }

  /** Sends a revocation to the provider; queues it for retry when the provider fails. */
  private async atProvider(
    kind: PendingRevocationKind,
    subject: string,
    reason: RevocationReason,
  ): Promise<void> {
    try {
      this.countAtProvider(reason, await this.send(kind, subject));
    } catch (e) {
      this.logger.warn(
        `Could not revoke ${describe(kind)} at the identity provider (${(e as Error).message}); ` +
          'it is queued and will be retried',
      );
      try {
        await this.revocations.enqueue(kind, subject, Date.now() + REVOCATION_GIVE_UP_MS);
      } catch (queueError) {
        // Neither sent nor kept: nothing will retry it.
        this.countAtProvider(reason, 'given_up');
        throw queueError;
      }
      this.countAtProvider(reason, 'queued');
    }
  }

  private async send(kind: PendingRevocationKind, subject: string): Promise<ProviderOutcome> {
    try {
      if (kind === 'refresh_token') await this.auth.revokeRefreshToken(subject);
      else await this.provider.revokeUserGrants(subject);
      return 'revoked';
    } catch (e) {
      // A final answer (a user the provider does not know, a request it cannot take, no
      // admin API to ask) is not retried: no retry would change it.
      if (
        e instanceof AuthGrantRejectedError ||
        e instanceof IdentityProviderAdminUnsupportedError
      ) {
        this.logger.warn(`Not revoking ${describe(kind)} at the identity provider: ${e.message}`);
        return 'refused';
      }
      throw e;
    }
  }

  /** Counts one revocation at the provider; a queued one's retries count as reason `retry`. */
  private countAtProvider(
    reason: RevocationReason | 'retry',
    outcome: ProviderOutcome | 'queued' | 'given_up',
  ): void {
    this.metrics.revocations.inc({ reason, outcome });
  }
}

/**
 * Whether a token was issued before `notBefore` (epoch ms). `iat` counts whole seconds, so
 * a token issued in the same second as the revocation counts as earlier: a fresh token may
 * be refused for up to a second, a revoked one is never let through.
 */
export function issuedBefore(claims: { iat?: number }, notBefore: number | undefined): boolean {
  if (notBefore === undefined) return false;
  return typeof claims.iat !== 'number' || claims.iat * 1000 < notBefore;
}

/** Claims of a token this server stored itself (verified when it was received). */
function decodeOwnToken(token: string): AccessTokenClaims | undefined {
  try {
    return decodeJwt(token) as AccessTokenClaims;
  } catch {
    return undefined;
  }
}

const backoff = (attempts: number) =>
  Math.min(REVOCATION_RETRY_FIRST_MS * 2 ** (attempts - 1), REVOCATION_RETRY_MAX_MS);

const describe = (kind: PendingRevocationKind) =>
  kind === 'refresh_token' ? 'a refresh token' : "a user's grants";
