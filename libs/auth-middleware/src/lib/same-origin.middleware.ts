import { Injectable, NestMiddleware } from '@nestjs/common';
import { SESSION_COOKIE_NAME, SettingService } from '@bodhi/services';
import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './api-error.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SAME_ORIGIN_FETCH_SITES = new Set(['same-origin', 'none']);

/**
 * CSRF defence in depth (the cookie is already SameSite=Strict): a state-changing request
 * that carries the session cookie must come from our own origin. Browsers say where a
 * request comes from in `Sec-Fetch-Site` (or, older ones, `Origin`); a request with
 * neither is not from a browser page and cannot ride a victim's cookie.
 */
@Injectable()
export class SameOriginMiddleware implements NestMiddleware {
  constructor(private readonly settings: SettingService) {}

  use(req: Request, _res: Response, next: NextFunction): void {
    if (SAFE_METHODS.has(req.method) || !req.headers.cookie?.includes(`${SESSION_COOKIE_NAME}=`))
      return next();
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
        'Cross-origin requests with the session cookie are refused',
      ),
    );
  }

  private ownOrigins(req: Request): string[] {
    return [this.settings.publicUrl(), `${req.protocol}://${req.headers.host}`];
  }
}
