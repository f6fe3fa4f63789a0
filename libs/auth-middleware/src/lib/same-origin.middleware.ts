import { Injectable, NestMiddleware } from '@nestjs/common';
import { SettingService } from '@bodhi/services';
import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './api-error.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SAME_ORIGIN_FETCH_SITES = new Set(['same-origin', 'none']);

/**
 * CSRF defence (the cookie is already SameSite=Strict): every state-changing request must
 * come from our own origin, whether it carries the session cookie or not. A cross-site page
 * whose request carries no cookie (SameSite keeps it back) could otherwise still start a
 * login on the victim's browser and replace its cookie. Browsers say where a request comes
 * from in `Sec-Fetch-Site` (or, older ones, `Origin`); a request with neither is not from a
 * browser page. Runs before the session is loaded: a refused request creates no session
 * and changes none.
 */
@Injectable()
export class SameOriginMiddleware implements NestMiddleware {
  constructor(private readonly settings: SettingService) {}

  use(req: Request, _res: Response, next: NextFunction): void {
    if (SAFE_METHODS.has(req.method)) return next();
    const site = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    const allowed =
      typeof site === 'string'
        ? SAME_ORIGIN_FETCH_SITES.has(site)
        : origin === undefined || this.ownOrigins(req).includes(origin);
    if (allowed) return next();
    next(
      ApiError.forbidden(
        'cross_origin_request',
        'Cross-origin state-changing requests are refused',
      ),
    );
  }

  private ownOrigins(req: Request): string[] {
    return [this.settings.publicUrl(), `${req.protocol}://${req.headers.host}`];
  }
}
