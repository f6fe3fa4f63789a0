import type { LogLevel as NestLogLevel } from '@nestjs/common';
import { type Env, parseSettings, type ServerSettings } from '@bodhi/services';
import { pino, type DestinationStream, type LevelWithSilent, type LoggerOptions } from 'pino';
import { build as prettyStream } from 'pino-pretty';
import { censorSecrets, loggedError, redactLine } from './logging.redact.js';

/** How the server logs: the pino level and the line format. */
export interface LoggingConfig {
  level: LevelWithSilent;
  format: ServerSettings['logFormat'];
}

/** Nest's level names, most verbose first, and the pino level each one is. */
const NEST_TO_PINO: [NestLogLevel, LevelWithSilent][] = [
  ['verbose', 'trace'],
  ['debug', 'debug'],
  ['log', 'info'],
  ['warn', 'warn'],
  ['error', 'error'],
  ['fatal', 'fatal'],
];

/**
 * The logging of a server with `server`'s settings. BODHI_LOG_LEVEL's names are pino's, with
 * the meaning they had as Nest level lists (trace = Nest's verbose, info = Nest's log; fatal
 * always shown). `logger` (createBodhiApp's option) overrides the level: `false` silences
 * everything, a Nest level list logs from its most verbose level up.
 */
export function loggingConfig(
  server: Pick<ServerSettings, 'logLevel' | 'logFormat'>,
  logger?: NestLogLevel[] | false,
): LoggingConfig {
  if (logger === undefined) return { level: server.logLevel, format: server.logFormat };
  const lowest = logger && NEST_TO_PINO.find(([nest]) => logger.includes(nest));
  return { level: lowest ? lowest[1] : 'silent', format: server.logFormat };
}

/**
 * pino's options for `config`, redaction included, so no call site has to remember it:
 * secret fields of logged objects and bindings, and errors as an allow-list of fields
 * (censorSecrets), then URL passwords and JWTs in every byte of every line (redactLine, on
 * the serialized line: pino fills a message from an error after any hook on the call).
 */
export function loggerOptions(config: LoggingConfig): LoggerOptions {
  return {
    level: config.level,
    formatters: { log: censorSecrets, bindings: censorSecrets },
    // Instead of pino's default, which copies every enumerable field of an error.
    serializers: { err: loggedError },
    hooks: { streamWrite: redactLine },
  };
}

/**
 * Where lines go, written synchronously in this process (no worker-thread transport), so none
 * is lost when the process exits or crashes and readers see them in order: `json`, one JSON
 * object per line (pino's own); `pretty`, one readable line per entry through pino-pretty.
 * `to` is stdout unless given (tests read their own stream).
 */
export function logDestination(
  format: LoggingConfig['format'],
  to: DestinationStream = pino.destination({ dest: 1, sync: true }),
): DestinationStream {
  if (format === 'json') return to;
  return prettyStream({
    destination: to,
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,context',
    messageFormat: '{if context}[{context}] {end}{msg}',
  });
}

/** A logger of its own for `config`: lines outside Nest, with the same redaction. */
export function createLogger(config: LoggingConfig, to?: DestinationStream): pino.Logger {
  return pino(loggerOptions(config), logDestination(config.format, to));
}

/**
 * The logger of a boot that failed before Nest's logger took over: the settings' level and
 * format, or, when the settings themselves are invalid (the reason it failed), JSON at info,
 * the production default.
 */
export function bootLogger(env: Env, to?: DestinationStream): pino.Logger {
  let config: LoggingConfig = { level: 'info', format: 'json' };
  try {
    config = loggingConfig(parseSettings(env).server);
  } catch {
    // the settings' own error is the message this logger is for
  }
  return createLogger(config, to);
}
