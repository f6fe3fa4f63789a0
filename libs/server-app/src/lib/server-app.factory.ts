import type { INestApplication, LogLevel as NestLogLevel } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ApiErrorFilter } from '@bodhi/auth-middleware';
import { BODHI_PORT, parseSettings, requireAuthSettings, SettingService } from '@bodhi/services';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { loggingConfig } from './logging.js';
import { loggingModule } from './logging.module.js';
import { MetricsServer } from './metrics.server.js';
import { securityHeaders } from './security-headers.js';
import { ServerAppModule, ServerAppOptions } from './server-app.module.js';

export interface BodhiAppOptions extends Omit<ServerAppOptions, 'logging'> {
  /**
   * Nest log levels (logged from the most verbose one up); default BODHI_LOG_LEVEL. `false`
   * silences the logger.
   */
  logger?: NestLogLevel[] | false;
  /** Where log lines go instead of stdout, in BODHI_LOG_FORMAT (tests read them). */
  logDestination?: DestinationStream;
}

/**
 * Builds the Bodhi server application (not yet listening): settings validated, session
 * store opened and migrated, routes, pages, error shape and shutdown hooks in place.
 */
export async function createBodhiApp(options: BodhiAppOptions = {}): Promise<INestApplication> {
  // Parsed once per boot: the log level is needed before Nest builds the services.
  const settings = options.settings ?? parseSettings(options.env ?? process.env);
  // The server cannot run without its identity provider: say so before anything (BODHI_HOME,
  // the generated cookie secret, the SQLite file) is written.
  requireAuthSettings(settings.auth);
  const logging = loggingModule(
    loggingConfig(settings.server, options.logger),
    options.logDestination,
  );
  const root = ServerAppModule.forRoot({
    settings,
    sessionStore: options.sessionStore,
    logging: logging.module,
  });
  const app = await NestFactory.create<NestExpressApplication>(root, {
    // Bodies are parsed in the middleware chain, after the Host and same-origin checks
    // (ServerAppModule.configure); Nest's parsers would read them before any check.
    bodyParser: false,
    abortOnError: false,
    // Boot logs wait until boot succeeds: a failed boot is reported once, by the error the
    // caller receives (one line naming the problem), not also as Nest's stack dump.
    bufferLogs: true,
    autoFlushLogs: false,
  }).catch((e: unknown) => {
    logging.leave();
    throw e;
  });
  // Every Nest Logger (new Logger('X')) now writes through pino: JSON lines or pretty ones,
  // redacted, with the request id inside a request (nestjs-pino).
  app.useLogger(app.get(Logger));
  app.flushLogs();
  app.useGlobalFilters(new ApiErrorFilter());
  // Behind a trusted proxy, req.ip/protocol/hostname follow its X-Forwarded-*; with none
  // (the default) a client's forged X-Forwarded-For or X-Forwarded-Host changes nothing.
  app.set('trust proxy', settings.server.trustProxy);
  // Before every route and middleware, so 404s and refusals carry the headers too.
  app.use(securityHeaders(settings.server));
  // SIGTERM/SIGINT close the app: pruner stopped, then the DataSource closed.
  app.enableShutdownHooks();
  return app;
}

export interface RunningBodhiServer {
  app: INestApplication;
  /**
   * The public URL of the server (BODHI_PUBLIC_*), e.g. http://localhost:1135; with
   * BODHI_PORT=0, on the port the server was given.
   */
  url: string;
  /** The port /metrics is served on when it has a port of its own (BODHI_METRICS_PORT). */
  metricsPort?: number;
  close(): Promise<void>;
}

/**
 * What `app.listen()` does, without its own error line: Nest logs a failed bind before
 * rejecting, and a taken port must be reported once, by the line that names BODHI_PORT.
 */
async function listen(app: INestApplication, port: number, host: string): Promise<void> {
  await app.init();
  const server = app.getHttpServer() as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  app.get(HttpAdapterHost).listening = true;
}

/** Creates the app and listens on BODHI_HOST:BODHI_PORT (0: a port the kernel picks). */
export async function startBodhiServer(options: BodhiAppOptions = {}): Promise<RunningBodhiServer> {
  const app = await createBodhiApp(options);
  const settings = app.get(SettingService);
  const { host, port } = settings.server;
  try {
    await listen(app, port, host);
  } catch (e) {
    await app.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new Error(
        `${host}:${port} is taken by another program: set ${BODHI_PORT} to another port`,
      );
    throw e;
  }
  settings.listening(((app.getHttpServer() as Server).address() as AddressInfo).port);
  return {
    app,
    url: settings.publicUrl(),
    metricsPort: app.get(MetricsServer).port(),
    close: () => app.close(),
  };
}
