import { parseArgs } from 'node:util';

/** What `bodhi-sessions` can do; each works on SQLite and PostgreSQL alike. */
export const COMMANDS = [
  'migrate',
  'count',
  'keys',
  'list',
  'clear-user',
  'clear-all',
  'prune',
  'dump',
] as const;
export type CliCommand = (typeof COMMANDS)[number];

/** Former names of commands, still accepted (with a notice on stderr): the command each became. */
export const DEPRECATED_COMMANDS: Readonly<Record<string, CliCommand>> = { ids: 'keys' };

export const USAGE = `Usage: bodhi-sessions <command> [options]

Administers the Bodhi session store (SQLite or PostgreSQL), configured like the server:
BODHI_SESSION_DB_URL (default sqlite:$BODHI_HOME/session.sqlite), BODHI_SESSION_DB_TABLE,
BODHI_SESSION_DB_SCHEMA. Opening the store creates or upgrades the session table; a SQLite
file that does not exist is refused (a typo, most likely) except by migrate, which creates it.

Commands:
  migrate               bring the session table up to date and say so
  count [--user <id>]   number of live sessions, of everyone or of one user
  keys [--user <id>]    keys of the live sessions (SHA-256 hashes of their session ids),
                        one per line; "ids", its former name, still works
  list --user <id>      a user's live sessions, newest first: handle, created, last seen,
                        expires, max expires, address, browser, OS and user agent
  clear-user <userId>   log a user out everywhere; prints how many sessions were removed
  clear-all --yes       delete every session (logs everyone out); prints how many
  prune                 delete expired sessions; prints how many
  dump                  live sessions, one "<key><TAB><userId or ->" per line

Options:
  --url <url>           session database: sqlite:<path> or postgres://user:pw@host/db
                        (overrides BODHI_SESSION_DB_URL)
  --table <name>        session table (overrides BODHI_SESSION_DB_TABLE; default bodhi_sessions)
  --schema <name>       PostgreSQL schema (overrides BODHI_SESSION_DB_SCHEMA; default public)
  --user <id>           only the sessions of this user (count, keys; required by list)
  --yes                 confirm clear-all
  --json                print one JSON value instead of text
  --verbose             log the session module's messages to stderr
  -h, --help            print this help

The table holds no session id, only its key: no output of these commands is a cookie
anyone could send.
Exit status: 0 done, 1 configuration or database error, 2 bad usage.
`;

export interface CliOptions {
  url?: string;
  table?: string;
  schema?: string;
  user?: string;
  yes: boolean;
  json: boolean;
  verbose: boolean;
}

export type ParsedCli =
  | { kind: 'help' }
  /** Bad usage (exit 2); `showUsage: false` for a refusal that is not a mistake in syntax. */
  | { kind: 'usage-error'; message: string; showUsage: boolean }
  | {
      kind: 'run';
      command: CliCommand;
      userId?: string;
      options: CliOptions;
      /** Set when the command was given by a former name: what to tell the user. */
      deprecation?: string;
    };

const OPTION_SPEC = {
  url: { type: 'string' },
  table: { type: 'string' },
  schema: { type: 'string' },
  user: { type: 'string' },
  yes: { type: 'boolean' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Options that only make sense with some commands; the rest apply to every command. */
const OPTION_COMMANDS: Partial<Record<keyof typeof OPTION_SPEC, readonly CliCommand[]>> = {
  user: ['count', 'keys', 'list'],
  yes: ['clear-all'],
};

/** Positional arguments each command takes after its name. */
const ARGUMENTS: Partial<Record<CliCommand, string>> = { 'clear-user': '<userId>' };

const usageError = (message: string, showUsage = true): ParsedCli => ({
  kind: 'usage-error',
  message,
  showUsage,
});

/** node:util's messages, reworded without the long hints meant for other programs. */
function parseArgsMessage(e: Error & { code?: string }): string {
  const option = /'(-[^' ]*)/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? e.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (option && /missing|ambiguous/.test(e.message)) return `option ${option} needs a value`;
      if (option && /does not take/.test(e.message)) return `option ${option} takes no value`;
      return e.message.split('\n')[0];
    default:
      return e.message;
  }
}

/** Reads the command line strictly: any unknown command, option or argument is bad usage. */
export function parseCliArgs(argv: readonly string[]): ParsedCli {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: OPTION_SPEC,
      strict: true,
      allowPositionals: true,
    }));
  } catch (e) {
    return usageError(parseArgsMessage(e as Error));
  }
  if (values.help) return { kind: 'help' };

  const [name, ...args] = positionals;
  if (name === undefined) return usageError('no command given');
  const renamed = Object.hasOwn(DEPRECATED_COMMANDS, name) ? DEPRECATED_COMMANDS[name] : undefined;
  if (!renamed && !(COMMANDS as readonly string[]).includes(name)) {
    return usageError(`unknown command "${name}"`);
  }
  const command = renamed ?? (name as CliCommand);

  for (const [option, commands] of Object.entries(OPTION_COMMANDS)) {
    if (values[option] !== undefined && !commands.includes(command)) {
      return usageError(`option --${option} does not apply to ${name}`);
    }
  }
  for (const option of ['url', 'table', 'schema', 'user'] as const) {
    if (values[option] !== undefined && String(values[option]).trim() === '') {
      return usageError(`option --${option} needs a non-empty value`);
    }
  }

  const expected = ARGUMENTS[command];
  if (expected && args.length === 0) return usageError(`${command} needs ${expected}`);
  if (args.length > (expected ? 1 : 0)) {
    return usageError(`unexpected argument "${args[expected ? 1 : 0]}" for ${name}`);
  }
  const userId = expected ? args[0] : undefined;
  if (userId !== undefined && userId.trim() === '') {
    return usageError(`${command} needs a non-empty ${expected}`);
  }

  if (command === 'list' && values.user === undefined) return usageError('list needs --user <id>');

  if (command === 'clear-all' && !values.yes) {
    return usageError(
      'clear-all deletes every session and logs everyone out; add --yes to confirm',
      false,
    );
  }

  return {
    kind: 'run',
    command,
    userId,
    options: {
      url: values.url as string | undefined,
      table: values.table as string | undefined,
      schema: values.schema as string | undefined,
      user: values.user as string | undefined,
      yes: Boolean(values.yes),
      json: Boolean(values.json),
      verbose: Boolean(values.verbose),
    },
    ...(renamed && { deprecation: `"${name}" is deprecated; use "${renamed}"` }),
  };
}
