import { HttpException, Injectable, SetMetadata } from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import {
  BodhiMetrics,
  SessionLockTimeoutError,
  SessionStoreUnavailableError,
} from '@bodhi/services';

/**
 * Why a login failed, as `bodhi_logins_total{outcome="failure", reason}` counts it (a login
 * that succeeds is `{outcome="success", reason="ok"}`). A fixed set, from what the login
 * routes answer, never text from the request or the provider (a crafted callback must not
 * add label values):
 * - `no_login_in_progress`: the session holds no login (none begun, or its session expired
 *   or was removed);
 * - `state_mismatch`: the callback's state is not the login's (another login's, or forged);
 * - `login_replayed`: the login was already completed (a second callback of it);
 * - `provider_error`: the provider answered the authorization request with an error
 *   (`access_denied` and the rest; the code itself is logged, not counted);
 * - `missing_code`: a callback with neither a code nor an error;
 * - `grant_rejected`: the provider refused the code, or the token it issued is not valid;
 * - `provider_unavailable` / `store_unavailable`: the provider or the session store failed;
 * - `rate_limited`: the address was over the login routes' rate limit;
 * - `other`: anything else (a 500).
 */
export type LoginFailureReason =
  | 'no_login_in_progress'
  | 'state_mismatch'
  | 'login_replayed'
  | 'provider_error'
  | 'missing_code'
  | 'grant_rejected'
  | 'provider_unavailable'
  | 'store_unavailable'
  | 'rate_limited'
  | 'other';

/** The API error codes of the login routes, by the reason they count as. */
const REASON_BY_CODE: Record<string, LoginFailureReason> = {
  no_login_in_progress: 'no_login_in_progress',
  state_mismatch: 'state_mismatch',
  login_already_completed: 'login_replayed',
  oauth_error: 'provider_error',
  missing_code: 'missing_code',
  login_failed: 'grant_rejected',
  auth_provider_unavailable: 'provider_unavailable',
  too_many_requests: 'rate_limited',
};

/** The reason a login route's error counts as. */
export function loginFailureReason(e: unknown): LoginFailureReason {
  if (e instanceof SessionStoreUnavailableError || e instanceof SessionLockTimeoutError)
    return 'store_unavailable';
  const code = e instanceof HttpException ? apiErrorCode(e.getResponse()) : undefined;
  return code !== undefined && Object.hasOwn(REASON_BY_CODE, code) ? REASON_BY_CODE[code] : 'other';
}

const apiErrorCode = (body: unknown): string | undefined => {
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  return typeof code === 'string' ? code : undefined;
};

const LOGIN_ROUTE = 'bodhi:login-route';

/** Marks a route whose failures are failed logins (initiate, callback; not logout). */
export const LoginRoute = () => SetMetadata(LOGIN_ROUTE, true);

/** Whether the route `context` runs is marked with `LoginRoute`. */
export const isLoginRoute = (reflector: Reflector, context: ExecutionContext): boolean =>
  reflector.get<boolean | undefined>(LOGIN_ROUTE, context.getHandler()) === true;

/** Counts the login routes' outcomes into `bodhi_logins_total`. */
@Injectable()
export class LoginMetrics {
  constructor(private readonly metrics: BodhiMetrics) {}

  succeeded(): void {
    this.metrics.logins.inc({ outcome: 'success', reason: 'ok' });
  }

  /** A login route's error `e`, counted by its reason. */
  failed(e: unknown): void {
    this.metrics.logins.inc({ outcome: 'failure', reason: loginFailureReason(e) });
  }
}
