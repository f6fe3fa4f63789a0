import { Inject, Injectable } from '@nestjs/common';
import {
  seconds,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
} from '@nestjs/throttler';
import type { ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { ApiError, dropSession } from '@bodhi/auth-middleware';
import type { SettingService } from '@bodhi/services';
import { isLoginRoute, LoginMetrics } from './login-metrics.js';

/**
 * The login routes' limit: `authRateLimit` requests per client address (`req.ip`, which
 * follows BODHI_TRUST_PROXY) per `authRateLimitWindowSeconds`, counted per route; 0 turns
 * it off. Counted in this process's memory: each instance of a cluster counts its own.
 */
export function authRateLimitOptions(settings: SettingService): ThrottlerModuleOptions {
  const { authRateLimit, authRateLimitWindowSeconds } = settings.server;
  return {
    throttlers: [{ limit: authRateLimit, ttl: seconds(authRateLimitWindowSeconds) }],
    skipIf: () => authRateLimit === 0,
  };
}

/**
 * @nestjs/throttler's guard answering in the API's error shape: 429 `too_many_requests`,
 * with the `Retry-After` (seconds) the guard sets before it refuses. A guard runs after the
 * session and caller middleware, which have loaded the request's session (and refreshed its
 * tokens if they had expired); a refusal takes the session off the request, so it is neither
 * touched nor saved and the answer sets no cookie. A refusal of a login route is a failed
 * login (`rate_limited`): the controller never sees it.
 */
@Injectable()
export class AuthRateLimitGuard extends ThrottlerGuard {
  // A property, so the throttler guard's own constructor injection stays as it is.
  @Inject(LoginMetrics) private readonly logins!: LoginMetrics;

  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    dropSession(context.switchToHttp().getRequest<Request>());
    const refusal = ApiError.tooManyRequests(
      'too_many_requests',
      `Too many requests from this address; try again in ${detail.timeToBlockExpire} s`,
    );
    if (isLoginRoute(this.reflector, context)) this.logins.failed(refusal);
    throw refusal;
  }
}
