import {
  BODHI_HOME,
  BODHI_SESSION_DB_SCHEMA,
  BODHI_SESSION_DB_TABLE,
  BODHI_SESSION_DB_URL,
  BODHI_SESSION_MAX_LIFETIME_SECONDS,
  DefaultSessionService,
  InvalidSessionDbUrlError,
  InvalidSessionOptionsError,
  InvalidSettingsError,
  parseSessionDbUrl,
  parseSettings,
  redactSecrets,
  SessionDbUnavailableError,
  SessionRevocations,
  SessionModule,
  SessionPruner,
} from '@bodhi/services';
import type { Env, SessionSettings } from '@bodhi/services';
import type { LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import * as fs from 'node:fs';
import { CliOptions, parseCliArgs, USAGE } from './cli-args.js';
import { runCommand } from './cli-commands.js';

export { USAGE } from './cli-args.js';

/** Where the command line reads its settings and writes its output (process streams in the bin). */
export interface BodhiSessionsIo {
  env: Env;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/**
 * Signs no cookie: admin commands never touch the middleware, but the session module wants
 * a secret of the accepted length.
 */
const ADMIN_SECRET = 'bodhi-sessions-admin-cli-secret-unused-0000';

/** The settings the session store is configured from, and the flag that overrides each. */
const SETTINGS_FLAGS = {
  [BODHI_SESSION_DB_URL]: 'url',
  [BODHI_SESSION_DB_TABLE]: 'table',
  [BODHI_SESSION_DB_SCHEMA]: 'schema',
} as const;

/** Settings read from the environment alone: `list` shows when sessions end as the server ends them. */
const ENV_SETTINGS = [BODHI_SESSION_MAX_LIFETIME_SECONDS];

type StoreSettings = Pick<SessionSettings, 'url' | 'tableName' | 'schema' | 'maxLifetimeSeconds'>;

/**
 * The store's settings as the server reads them (same validation, defaults and messages),
 * with the command-line overrides applied. Only the session-store variables are read, so an
 * unrelated bad setting (say BODHI_PORT) does not get in the way of an admin command.
 */
function storeSettings(env: Env, options: CliOptions): StoreSettings {
  const input: Env = { [BODHI_HOME]: env[BODHI_HOME] };
  for (const variable of ENV_SETTINGS) input[variable] = env[variable];
  for (const [variable, flag] of Object.entries(SETTINGS_FLAGS)) {
    input[variable] = options[flag] ?? env[variable];
  }
  try {
    return parseSettings(input).session;
  } catch (e) {
    if (!(e instanceof InvalidSettingsError)) throw e;
    // Say where a bad value came from when it was a flag, not the environment.
    const flagOf = (variable: string) => SETTINGS_FLAGS[variable as keyof typeof SETTINGS_FLAGS];
    throw new InvalidSettingsError(
      e.issues.map((issue) => {
        const flag = flagOf(issue.variable);
        return flag && options[flag] !== undefined ? { ...issue, source: `--${flag}` } : issue;
      }),
    );
  }
}

/** The password of a URL (what no output line may contain), if it has one. */
function urlPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const password = new URL(url).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}

const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, ' ').trim();

/** Nest's log lines on stderr (for --verbose), so stdout stays the command's output alone. */
function stderrLogger(write: (line: string) => void): LoggerService {
  const at =
    (level: string) =>
    (message: unknown, ...params: unknown[]) => {
      const context = typeof params.at(-1) === 'string' ? (params.pop() as string) : undefined;
      const extra = params.filter((p): p is string => typeof p === 'string' && p !== '');
      const text = message instanceof Error ? (message.stack ?? message.message) : String(message);
      write(`[${level}]${context ? ` [${context}]` : ''} ${[text, ...extra].join('\n')}\n`);
    };
  return {
    log: at('log'),
    error: at('error'),
    warn: at('warn'),
    debug: at('debug'),
    verbose: at('verbose'),
    fatal: at('fatal'),
  };
}

/**
 * A SQLite file that is not there is a typo in --url or BODHI_HOME; opening it would create an
 * empty database and report on that. Only `migrate` creates the file.
 */
class MissingSessionDbError extends Error {
  constructor(file: string) {
    super(
      `no session database at ${file} (SQLite file not found; "bodhi-sessions migrate" creates one)`,
    );
    this.name = 'MissingSessionDbError';
  }
}

/** Errors whose message is meant for the person at the terminal, as it stands. */
const EXPECTED_ERRORS = [
  MissingSessionDbError,
  InvalidSettingsError,
  InvalidSessionDbUrlError,
  InvalidSessionOptionsError,
  SessionDbUnavailableError,
];

/**
 * `bodhi-sessions <command> [options]`: administers the session store the server uses.
 * Returns the exit status: 0 done, 1 configuration or database error, 2 bad usage.
 * Every line written to stderr is redacted (URL passwords never appear).
 */
export async function runBodhiSessions(argv: string[], io: BodhiSessionsIo): Promise<number> {
  const parsed = parseCliArgs(argv);
  if (parsed.kind === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  if (parsed.kind === 'usage-error') {
    io.stderr(`bodhi-sessions: ${parsed.message}\n${parsed.showUsage ? `\n${USAGE}` : ''}`);
    return 2;
  }

  const { command, userId, options, deprecation } = parsed;
  if (deprecation) io.stderr(`bodhi-sessions: ${deprecation}\n`);
  const secrets = [urlPassword(options.url), urlPassword(io.env[BODHI_SESSION_DB_URL])];
  const stderr = (text: string) => io.stderr(redactSecrets(text, secrets));
  try {
    const settings = storeSettings(io.env, options);
    secrets.push(urlPassword(settings.url));
    const target = parseSessionDbUrl(settings.url);
    const backend = target.kind;
    if (
      command !== 'migrate' &&
      target.kind === 'sqlite' &&
      target.database !== ':memory:' &&
      !fs.existsSync(target.database)
    ) {
      throw new MissingSessionDbError(target.database);
    }
    const app = await NestFactory.createApplicationContext(
      SessionModule.forRoot({
        url: settings.url,
        secret: ADMIN_SECRET,
        tableName: settings.tableName,
        schema: settings.schema,
        maxLifetimeSeconds: settings.maxLifetimeSeconds,
        pruneIntervalSeconds: 0,
      }),
      { logger: options.verbose ? stderrLogger(stderr) : false, abortOnError: false },
    );
    try {
      const result = await runCommand(
        command,
        {
          service: app.get(DefaultSessionService),
          pruner: app.get(SessionPruner),
          revocations: app.get(SessionRevocations),
          backend,
          table: settings.tableName,
          schema: backend === 'postgres' ? (settings.schema ?? 'public') : undefined,
        },
        { userId, user: options.user },
      );
      io.stdout(options.json ? `${JSON.stringify(result.json)}\n` : result.text);
      return 0;
    } finally {
      // Stops the pruner and destroys the DataSource, so the process can exit.
      await app.close().catch((e: unknown) => {
        stderr(`bodhi-sessions: closing the session database failed: ${oneLine(String(e))}\n`);
      });
    }
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    const expected = EXPECTED_ERRORS.some((type) => error instanceof type);
    stderr(
      `bodhi-sessions: ${oneLine(expected ? error.message : `${error.name}: ${error.message}`)}\n`,
    );
    if (options.verbose && !expected && error.stack) stderr(`${error.stack}\n`);
    return 1;
  }
}
