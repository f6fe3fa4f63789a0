import { HttpStatus, Injectable } from '@nestjs/common';
import { ApiError } from '@bodhi/auth-middleware';
import { BodhiMetrics, SettingService } from '@bodhi/services';
import { isIP } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { AllowedHostMiddleware, hostName } from './allowed-host.middleware.js';

/** Where /metrics is answered: nowhere (BODHI_METRICS=off), the server's port, or its own. */
export type MetricsPlacement = 'off' | 'server-port' | 'metrics-port';

const READ_METHODS = new Set(['GET', 'HEAD']);
/** `Sec-Fetch-Site` values of a request a page of our own origin, or no page, made. */
const OWN_FETCH_SITES = new Set(['same-origin', 'none']);

/** An IPv6 address in brackets, as `hostName` spells one. */
const BRACKETED = /^\[(.*)\]$/;

/**
 * Every pattern this module applies to a request's headers: a spec runs a ReDoS checker over
 * them, so a pattern added here must be added to this list.
 */
export const METRICS_REQUEST_PATTERNS: readonly RegExp[] = [BRACKETED];

/** A host name as `hostName` spells it (IPv6 in brackets) that is an IP address. */
const isIpLiteral = (name: string): boolean => isIP(name.replace(BRACKETED, '$1')) !== 0;

/**
 * Whether the only host the request names is an IP address: one Host header naming one, an
 * origin-form target (no authority of its own) and no X-Forwarded-Host. Prometheus scrapes a
 * pod by its IP address, which no allowed-hosts list can know beforehand. That is safe from
 * DNS rebinding: a rebinding page is loaded from the attacker's DNS name, and the browser
 * sends that name as Host for every request the page makes, even once the name resolves to
 * this server; a Host that is an IP literal therefore never comes from such a page. Anything
 * else naming a host goes through the app's own host check instead.
 */
function namesOnlyAnIp(req: Request): boolean {
  const hosts = req.headersDistinct.host ?? [];
  const name = hosts.length === 1 ? hostName(hosts[0]) : undefined;
  return (
    name !== undefined &&
    isIpLiteral(name) &&
    req.originalUrl.startsWith('/') &&
    req.headers['x-forwarded-host'] === undefined
  );
}

/**
 * The /metrics answer and the rules it is given under, wherever it is served. It reads no
 * session and runs no authentication (the exposition names no user or session), so a scrape
 * creates no session and reaches no store. It is refused, in the app's error shape:
 * - (421) a Host that is neither an allowed host (the app's DNS-rebinding check) nor an IP
 *   literal (see `namesOnlyAnIp`);
 * - (403) a request a browser marks as another site's (`Sec-Fetch-Site` other than
 *   same-origin or none), or one whose `Origin` is not ours: a page elsewhere has no business
 *   reading the server's counters. Prometheus sends neither header;
 * - (405) any method but GET and HEAD.
 * It answers `Cache-Control: no-store`: a scrape must see the counters of now.
 */
@Injectable()
export class MetricsEndpoint {
  readonly placement: MetricsPlacement;
  private readonly hostCheck: AllowedHostMiddleware;

  constructor(
    private readonly settings: SettingService,
    private readonly metrics: BodhiMetrics,
  ) {
    const { metrics: mode, metricsPort } = settings.server;
    this.placement =
      mode === 'off' ? 'off' : metricsPort === undefined ? 'server-port' : 'metrics-port';
    this.hostCheck = new AllowedHostMiddleware(settings);
    // Process metrics sample the process (event-loop lag timers, GC hooks): only when served.
    if (this.placement !== 'off') metrics.collectProcess();
  }

  /** Answers one request for /metrics, or passes its refusal to `next`. */
  handle(req: Request, res: Response, next: NextFunction): void {
    if (namesOnlyAnIp(req)) return this.serve(req, res, next);
    this.hostCheck.use(req, res, (refusal?: unknown) =>
      refusal ? next(refusal) : this.serve(req, res, next),
    );
  }

  private serve(req: Request, res: Response, next: NextFunction): void {
    if (this.crossOrigin(req)) {
      return next(
        ApiError.forbidden('cross_origin_request', 'Metrics are not served to other origins'),
      );
    }
    if (!READ_METHODS.has(req.method)) {
      res.setHeader('Allow', 'GET, HEAD');
      return next(
        new ApiError(
          HttpStatus.METHOD_NOT_ALLOWED,
          'invalid_request_error',
          'method_not_allowed',
          'Metrics are read with GET or HEAD',
        ),
      );
    }
    this.metrics.exposition().then(({ contentType, body }) => {
      res.setHeader('Cache-Control', 'no-store');
      res.type(contentType).send(body);
    }, next);
  }

  private crossOrigin(req: Request): boolean {
    const site = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    const ours = [this.settings.publicUrl(), `${req.protocol}://${req.headers.host}`];
    return (
      (site !== undefined && !OWN_FETCH_SITES.has(site)) ||
      (origin !== undefined && !ours.includes(origin))
    );
  }
}
