import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ApiError } from '@bodhi/auth-middleware';
import { BODHI_METRICS_PORT, SettingService } from '@bodhi/services';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import * as http from 'node:http';
import { MetricsEndpoint } from './metrics.endpoint.js';
import { securityHeaders } from './security-headers.js';

const NOT_FOUND = new ApiError(404, 'not_found_error', 'not_found', 'Only /metrics is served here');
const INTERNAL = new ApiError(
  500,
  'internal_server_error',
  'internal_error',
  'internal server error',
);

/** The metrics port's app: /metrics under the endpoint's rules, a 404 for every other path. */
function metricsApp(endpoint: MetricsEndpoint, settings: SettingService): Express {
  const logger = new Logger('Metrics');
  const app = express();
  app.use(securityHeaders(settings.server));
  app.all('/metrics', (req, res, next) => endpoint.handle(req, res, next));
  app.use((_req: Request, _res: Response, next: NextFunction) => next(NOT_FOUND));
  // The app's one error shape, as ApiErrorFilter renders it on the server's port.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (!(err instanceof ApiError)) logger.error(`metrics exposition failed: ${String(err)}`);
    const answer = err instanceof ApiError ? err : INTERNAL;
    res.status(answer.getStatus()).json(answer.getResponse());
  });
  return app;
}

/**
 * The listener of BODHI_METRICS_PORT (on BODHI_HOST), when metrics are served there; the
 * server's own port then answers /metrics with a 404 (MetricsMiddleware). It opens on
 * application bootstrap, which both `app.init()` (specs, which never listen) and
 * `app.listen()` run, before the server's port is opened; so a metrics port that cannot be
 * bound fails the boot before the server takes any request. It closes on shutdown, with the
 * app (SIGTERM, or a boot whose server port fails afterwards).
 */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server?: http.Server;

  constructor(
    private readonly settings: SettingService,
    private readonly endpoint: MetricsEndpoint,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.endpoint.placement !== 'metrics-port') return;
    const { host, metricsPort } = this.settings.server;
    const server = http.createServer(metricsApp(this.endpoint, this.settings));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(metricsPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((e: unknown) => {
      throw new Error(
        `Cannot serve metrics on ${BODHI_METRICS_PORT}=${metricsPort}: ${e instanceof Error ? e.message : String(e)}`,
      );
    });
    this.server = server;
    this.logger.log(`Serving /metrics on ${host}:${this.port()}`);
  }

  /** The port metrics are served on, once listening (BODHI_METRICS_PORT=0 lets the OS pick). */
  port(): number | undefined {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : undefined;
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    // close() ends idle keep-alive connections (a scraper's) and waits for answers in flight.
    await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
  }
}
