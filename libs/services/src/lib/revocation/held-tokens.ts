import type { RevocationReason, RevocationService } from './revocation.service.js';

/** What an ended session held that would otherwise outlive it (its SessionData's tokens). */
export interface HeldTokens {
  access_token?: string;
  refresh_token?: string;
}

/**
 * Revokes what ended sessions held, the same for every way a session ends (logout, the
 * session routes): their access tokens here (a bearer of one gets 401 on every instance until
 * it expires), then their refresh tokens at the provider (RFC 7009; in the background, never
 * waited for: queued and retried when the provider does not answer). The refresh tokens go
 * even when revoking an access token throws (the database failing): the sessions are gone
 * already, and their grants must not outlive them. A token two copies of a session share is revoked once. The
 * provider's revocations are counted by `reason` (the sessions themselves by their route).
 */
export async function revokeHeldTokens(
  revocation: RevocationService,
  reason: RevocationReason,
  ended: readonly (HeldTokens | null | undefined)[],
): Promise<void> {
  const held = ended.filter((session): session is HeldTokens => !!session);
  try {
    for (const accessToken of new Set(held.map((s) => s.access_token))) {
      await revocation.revokeAccessToken(accessToken);
    }
  } finally {
    for (const refreshToken of new Set(held.map((s) => s.refresh_token))) {
      revocation.revokeRefreshToken(refreshToken, reason);
    }
  }
}
