import type { LogLevel as NestLogLevel } from '@nestjs/common';
import { type Env, parseSettings, redactSecrets, type ServerSettings } from '@bodhi/services';
import { pino, type DestinationStream, type LevelWithSilent, type LoggerOptions } from 'pino';
import { build as prettyStream } from 'pino-pretty';

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

/** What replaces a redacted value: the same mark redactSecrets leaves in text. */
const CENSOR = '***';

/**
 * Fields that hold a secret wherever they appear in a logged object. `code` and `state` (the
 * OAuth callback's) are not among them: errors carry a `code` (ECONNREFUSED, 57P01) an
 * operator needs, and health checks a `state`. They are redacted in any `query` instead, and
 * the request line logs the path without its query.
 */
const SECRET_FIELDS = [
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'id_token',
  'idToken',
  'token',
  'password',
  'client_secret',
  'clientSecret',
  'code_verifier',
  'codeVerifier',
  'secret',
  'cookie',
  'authorization',
];
const QUERY_SECRETS = ['query.code', 'query.state'];
/** pino's redaction matches one level per wildcard: a secret field up to four levels deep. */
const DEPTHS = ['', '*.', '*.*.', '*.*.*.'];

export const REDACTED_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  ...DEPTHS.flatMap((depth) => [...SECRET_FIELDS, ...QUERY_SECRETS].map((f) => depth + f)),
];

/** An error as pino's serializer writes it, with URL passwords out of its message and stack. */
function redactedError(err: Error): ReturnType<typeof pino.stdSerializers.err> {
  const out = pino.stdSerializers.err(err);
  // `err` may be any object a call site logged under that key, without either.
  const text = (value: unknown) => (typeof value === 'string' ? redactSecrets(value) : value);
  return { ...out, message: text(out.message) as string, stack: text(out.stack) as string };
}

/**
 * pino's options for `config`, redaction included: secret fields of logged objects (above),
 * and the text of every message and error through redactSecrets (URL passwords), so no call
 * site has to remember either.
 */
export function loggerOptions(config: LoggingConfig): LoggerOptions {
  return {
    level: config.level,
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    serializers: { err: redactedError },
    hooks: {
      logMethod(args, method) {
        const [first, ...rest] = args as unknown[];
        // An error logged alone has its message as the line's message: spelled out here so
        // it is redacted like any other.
        const all =
          first instanceof Error && typeof rest[0] !== 'string'
            ? [first, first.message, ...rest]
            : args;
        const redacted = all.map((a: unknown) => (typeof a === 'string' ? redactSecrets(a) : a));
        return method.apply(this, redacted as Parameters<typeof method>);
      },
    },
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
