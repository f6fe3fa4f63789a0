import type { DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { loggerOptions, type LoggingConfig } from './logging.js';
import { processLogging, ProcessLoggingMembership } from './logging.process.js';
import { requestLogging } from './logging.request.js';

/**
 * nestjs-pino's LoggerModule for `config`: one pino logger (level, redaction, format) behind
 * Nest's Logger (createBodhiApp makes it the app's logger) and behind pino-http's request id
 * and request lines. Its middleware is global, so it runs before every module's middleware
 * (the Host and same-origin refusals carry the id too), after the factory's security headers.
 *
 * nestjs-pino keeps ONE logger per process (as Nest keeps one Logger per process): it writes
 * through processLogging, so the oldest open app's settings apply to every app in the process,
 * and a later app, once the earlier ones closed, gets its own (logging.process.ts).
 */
export interface AppLogging {
  module: DynamicModule;
  /**
   * Gives up the app's place in processLogging: done by the app's shutdown, and by
   * createBodhiApp when the boot fails (an app that never booted never shuts down, and its
   * settings and destination would otherwise keep serving every later app). Idempotent.
   */
  leave(): void;
}

export function loggingModule(config: LoggingConfig, to?: DestinationStream): AppLogging {
  const logger = loggerOptions(config);
  const requests = requestLogging();
  const module = LoggerModule.forRoot({
    pinoHttp: [
      {
        ...logger,
        ...requests,
        serializers: { ...logger.serializers, ...requests.serializers },
      },
      processLogging.stream,
    ],
  });
  const leave = processLogging.join(config, to);
  const membership = {
    provide: ProcessLoggingMembership,
    useValue: new ProcessLoggingMembership(leave),
  };
  return { module: { ...module, providers: [...(module.providers ?? []), membership] }, leave };
}
