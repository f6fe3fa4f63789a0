/** fetch as the server calls the identity provider with it (openid-client, jose, admin APIs). */
export type ProviderFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * fetch bounded to `timeoutMs` a call, body included, on top of any signal the caller gives:
 * the one bound every call to the provider has (BODHI_AUTH_TIMEOUT_MS). A provider that has
 * stopped answering then costs a request that long, not openid-client's 30 s. Once it fires,
 * fetch rejects with a `TimeoutError`, which openid-client reports as `OAUTH_TIMEOUT` and
 * jose as `JWKSTimeout`.
 *
 * Each call has a connection of its own (`Connection: close`): no idle connection to the
 * provider is kept. A provider resuming from a stall closes its idle connections before it
 * reads anything (their keep-alive timers ran out meanwhile), and a request sent on one
 * would be lost with it: a refresh it never saw, answered 503 although the provider is back.
 * Calls to the provider are few (discovery once, the key set every few minutes, a refresh
 * per token lifetime), so the handshake each costs is nothing to what a request costs.
 */
export function boundedFetch(timeoutMs: number): ProviderFetch {
  return (url, init = {}) => {
    const bound = AbortSignal.timeout(timeoutMs);
    const headers = new Headers(init.headers);
    headers.set('connection', 'close');
    return fetch(url, {
      ...init,
      headers,
      signal: init.signal ? AbortSignal.any([init.signal, bound]) : bound,
    });
  };
}
