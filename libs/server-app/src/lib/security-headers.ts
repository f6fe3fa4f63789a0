import type { ServerSettings } from '@bodhi/services';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { pageCspDirectives } from './ui.pages.js';

/**
 * The security headers of every response, by helmet (maintained, and it tracks what browsers
 * do with each header): `nosniff`; framing refused twice (CSP `frame-ancestors 'none'`, and
 * `X-Frame-Options: DENY` for browsers without CSP 2); `Referrer-Policy: no-referrer` (the
 * callback page's URL carries the authorization code); no `X-Powered-By`; helmet's
 * cross-origin isolation defaults. The CSP `default-src 'none'` fits the API's JSON and the
 * error answers, which load nothing; the UI pages replace it with their own
 * (`pageSecurityPolicy`). HSTS only when browsers reach the server over https: over http it
 * is ignored at best, and a wrong one would lock browsers out of the host for a year.
 */
export function securityHeaders(server: Pick<ServerSettings, 'publicScheme'>): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: server.publicScheme === 'https',
  });
}

/** The Content-Security-Policy of one UI page: its own script and style, by hash. */
export function pageSecurityPolicy(html: string): RequestHandler {
  return helmet.contentSecurityPolicy({ useDefaults: false, directives: pageCspDirectives(html) });
}

/**
 * `Cache-Control: no-store` on every API answer: user data, login and logout answers and
 * errors must stay out of browser and proxy caches. Helmet leaves caching alone.
 */
export function noStore(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Cache-Control', 'no-store');
  next();
}
