import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { MetricsEndpoint } from './metrics.endpoint.js';

/**
 * /metrics on the server's own port, when that is where metrics are served (BODHI_METRICS=on
 * without BODHI_METRICS_PORT). First in the chain (ServerAppModule.configure), it answers the
 * scrape itself, so the host and same-origin checks for pages, the session and the caller's
 * identification never run for it. Otherwise the request goes on like any other path: a 404.
 */
@Injectable()
export class MetricsMiddleware implements NestMiddleware {
  constructor(private readonly endpoint: MetricsEndpoint) {}

  use(req: Request, res: Response, next: NextFunction): void {
    if (this.endpoint.placement !== 'server-port') return next();
    this.endpoint.handle(req, res, next);
  }
}
