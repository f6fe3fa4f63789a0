import type { DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { logDestination, loggerOptions, type LoggingConfig } from './logging.js';
import { requestLogging } from './logging.request.js';

/**
 * nestjs-pino's LoggerModule for `config`: one pino logger (level, redaction, format) behind
 * Nest's Logger (createBodhiApp makes it the app's logger) and behind pino-http's request id
 * and request lines. Its middleware is global, so it runs before every module's middleware
 * (the Host and same-origin refusals carry the id too), after the factory's security headers.
 *
 * nestjs-pino keeps ONE pino-http, hence one logger, per process, built by the first app that
 * asks (as Nest keeps one Logger per process): a second app in the same process logs with the
 * first one's config. The server runs one app per process; tests that need another config
 * use another process (or spec file).
 */
export function loggingModule(config: LoggingConfig, to?: DestinationStream): DynamicModule {
  const logger = loggerOptions(config);
  const requests = requestLogging();
  return LoggerModule.forRoot({
    pinoHttp: [
      {
        ...logger,
        ...requests,
        serializers: { ...logger.serializers, ...requests.serializers },
      },
      logDestination(config.format, to),
    ],
  });
}
