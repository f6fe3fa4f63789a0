/**
 * What the callback page tells the user when the identity provider answered the
 * authorization request with an error. The message is ours, by error code (RFC 6749
 * §4.1.2.1, OpenID Connect Core §3.1.2.6): the response reaches the server through the
 * browser, so anyone can craft one (a link to the callback page), and its free-text
 * `error_description` must never be shown as if the server said it.
 */
const MESSAGES: Record<string, string> = {
  access_denied: 'The login was cancelled or refused at the identity provider.',
  login_required: 'The identity provider needs you to log in; start the login again.',
  consent_required: 'The identity provider needs your consent; start the login again.',
  interaction_required: 'The identity provider needs more from you; start the login again.',
  account_selection_required: 'Choose an account at the identity provider; start the login again.',
  invalid_request: 'The identity provider rejected the login request.',
  invalid_request_uri: 'The identity provider rejected the login request.',
  invalid_request_object: 'The identity provider rejected the login request.',
  request_not_supported: 'The identity provider rejected the login request.',
  request_uri_not_supported: 'The identity provider rejected the login request.',
  registration_not_supported: 'The identity provider rejected the login request.',
  unauthorized_client: 'This server may not log users in at the identity provider.',
  unsupported_response_type: 'The identity provider does not support this kind of login.',
  invalid_scope: 'The identity provider refused the access this server asks for.',
  server_error: 'The identity provider failed; try again.',
  temporarily_unavailable: 'The identity provider is temporarily unavailable; try again shortly.',
};

const UNKNOWN = 'The identity provider refused the login.';

/** An error code as the specs spell them (and a little more): a bounded token, nothing else. */
const ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Every pattern this module applies to a callback's parameters: a spec runs a ReDoS checker
 * over them, so a pattern added here must be added to this list.
 */
export const PROVIDER_ERROR_PATTERNS: readonly RegExp[] = [ERROR_CODE];

/** The provider's error code when it is a plain token, to log and report; else undefined. */
export const providerErrorCode = (error: string): string | undefined =>
  ERROR_CODE.test(error) ? error : undefined;

/** Our message for a provider error `code` (a generic one for codes we do not know). */
export const providerErrorMessage = (code: string | undefined): string =>
  (code !== undefined && Object.hasOwn(MESSAGES, code) ? MESSAGES[code] : undefined) ?? UNKNOWN;
