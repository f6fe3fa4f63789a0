// How a failed call to the identity provider is read, for every call the server makes to it:
// as the provider's final word on what was asked (a refusal: a login may end on it), or as the
// provider failing to answer (unavailable: 503, and nothing ends). A provider stalls, restarts,
// sits behind a proxy that answers 502 or an HTML page: none of that says anything of a login,
// so only an answer that does is final.
import { errors as joseErrors } from 'jose';
import * as oidc from 'openid-client';
import {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  InvalidAccessTokenError,
} from './auth.errors.js';

/** One kind of call to the provider, and what of its failures is a final answer. */
export interface ProviderCall {
  /** Names the call in errors and logs ("refresh", "revocation"). */
  what: string;
  /**
   * The OAuth error codes (RFC 6749 §5.2, RFC 7009 §2.2.1) that are this call's final
   * answer when they come in a 4xx: the provider understood the request and refused it.
   */
  refusals: ReadonlySet<string>;
  /**
   * Whether a response that fails openid-client's checks is a refusal. It is for the code
   * exchange, whose checks are of the authorization response the browser brought (its state,
   * its issuer): that login attempt cannot succeed. Elsewhere it is the provider answering
   * what it should not, which says nothing of the grant.
   */
  failedChecksRefuse?: boolean;
}

/** The grant (the authorization code, the refresh token) is no good: RFC 6749 §5.2. */
const GRANT_REFUSED = new Set(['invalid_grant']);

export const DISCOVERY: ProviderCall = { what: 'discovery', refusals: new Set() };
export const CODE_EXCHANGE: ProviderCall = {
  what: 'code exchange',
  refusals: GRANT_REFUSED,
  failedChecksRefuse: true,
};
export const REFRESH: ProviderCall = { what: 'refresh', refusals: GRANT_REFUSED };
/**
 * The provider will not give this client a token of its own: final until the client is
 * reconfigured. `invalid_client` is not among them: a secret rotated at the provider before
 * here is a configuration to fix, not an answer to act on.
 */
export const CLIENT_CREDENTIALS: ProviderCall = {
  what: 'client credentials',
  refusals: new Set(['unauthorized_client', 'unsupported_grant_type', 'invalid_scope']),
};
/**
 * RFC 7009 answers 200 for a token that is already dead, so a failure means the token may
 * still work and must be retried; only a refusal of the request itself is final.
 */
export const REVOCATION: ProviderCall = {
  what: 'revocation',
  refusals: new Set(['unsupported_token_type', 'invalid_request']),
};

/**
 * openid-client's codes for a call that got no usable answer: it timed out or was aborted,
 * or the answer was not the JSON the protocol has (an HTML error page, a redirect, a 5xx
 * without an OAuth error, a body that does not parse).
 */
const NO_ANSWER_CODES = new Set([
  'OAUTH_TIMEOUT',
  'OAUTH_ABORT',
  'OAUTH_RESPONSE_IS_NOT_JSON',
  'OAUTH_RESPONSE_IS_NOT_CONFORM',
  'OAUTH_PARSE_ERROR',
]);

/**
 * What a failed openid-client call of kind `call` means: AuthGrantRejectedError when the
 * provider refused (an OAuth error of the call's refusals in a 4xx; an error response to the
 * authorization request; for the code exchange, an authorization response that fails its
 * checks), AuthProviderUnavailableError for everything else: no connection, a reset, a
 * timeout, a 5xx, `server_error` and `temporarily_unavailable`, a body that is not JSON, a
 * redirect, our client's own credentials refused, an answer that fails the protocol's checks.
 */
export function providerCallFailure(
  call: ProviderCall,
  e: unknown,
): AuthGrantRejectedError | AuthProviderUnavailableError {
  if (e instanceof oidc.ResponseBodyError) {
    if (e.status < 500 && call.refusals.has(e.error))
      return new AuthGrantRejectedError(
        `${call.what} rejected by the identity provider: ${e.error}`,
      );
    return unavailable(call, `it answered ${e.status} ${e.error}`);
  }
  if (e instanceof oidc.AuthorizationResponseError)
    return new AuthGrantRejectedError(`${call.what} rejected by the identity provider: ${e.error}`);
  // A 401 challenging our client's authentication (invalid_client): configuration.
  if (e instanceof oidc.WWWAuthenticateChallengeError)
    return unavailable(call, `it refused this server's client (${e.status})`);
  if (e instanceof oidc.ClientError && e.code !== undefined && !NO_ANSWER_CODES.has(e.code)) {
    if (call.failedChecksRefuse)
      return new AuthGrantRejectedError(`${call.what} failed: ${e.message}`);
    return unavailable(call, `its answer failed a check (${e.code})`);
  }
  // What is left: a code of NO_ANSWER_CODES, fetch's TypeError (refused or reset
  // connection, DNS), or openid-client's wrapper of an error it does not know (under Jest's
  // module realm that includes fetch's network errors).
  return unavailable(call, noAnswer(e));
}

/**
 * What a failure to get the key a token names from the provider's key set (jose's remote
 * JWKS) means. Only "no such key", in a key set fetched during this very verification
 * (`fetchedFresh`), is final: the token is not one of the provider's. The same answer from a
 * key set fetched earlier (jose fetches again at most every 30 s) may be a key the provider
 * has just added. A fetch that failed (timed out, refused, a non-200 or non-JSON answer, not
 * a key set) is the provider failing. Several matching keys is the token's doing (it names
 * no key precisely): passed on for the verification to refuse.
 */
export function keySetFailure(e: unknown, fetchedFresh: boolean): unknown {
  if (e instanceof joseErrors.JWKSNoMatchingKey) {
    if (fetchedFresh) return new InvalidAccessTokenError(`access token rejected: ${e.code}`);
    return new AuthProviderUnavailableError(
      "the token's key is not in the provider's key set as last fetched, and it is too soon to fetch it again",
    );
  }
  if (e instanceof joseErrors.JWKSMultipleMatchingKeys) return e;
  return new AuthProviderUnavailableError(`key set fetch failed: ${noAnswer(e)}`);
}

function unavailable(call: ProviderCall, why: string): AuthProviderUnavailableError {
  return new AuthProviderUnavailableError(`${call.what} failed: identity provider ${why}`);
}

/** A short account of a call that got no answer: its code, or its error's name and message. */
function noAnswer(e: unknown): string {
  if (e instanceof oidc.ClientError && e.code !== undefined) return `gave no answer (${e.code})`;
  if (e instanceof joseErrors.JOSEError) return `gave no answer (${e.code}: ${e.message})`;
  const error = e instanceof Error ? e : new Error(String(e));
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `unreachable (${error.name}: ${error.message}${cause})`;
}
