import { REVOCATION_GIVE_UP_MS } from '@bodhi/services';
import type {
  DefaultSessionService,
  SessionDbKind,
  SessionPruner,
  SessionRevocations,
  SessionSummary,
} from '@bodhi/services';
import type { CliCommand } from './cli-args.js';

/** What a command works with: the session module of an application context, opened and migrated. */
export interface CommandContext {
  service: DefaultSessionService;
  pruner: SessionPruner;
  revocations: SessionRevocations;
  backend: SessionDbKind;
  table: string;
  /** PostgreSQL schema of the table (undefined on SQLite). */
  schema?: string;
}

/** A command's result, as text lines and as the one JSON value `--json` prints. */
export interface CommandResult {
  text: string;
  json: unknown;
}

const lines = (items: readonly string[]): string => items.map((item) => `${item}\n`).join('');

const removed = (n: number): CommandResult => ({ text: `${n}\n`, json: { removed: n } });

/** An epoch-ms instant as UTC ISO 8601 to the second; null when the row has none. */
const instant = (ms: number | null): string | null =>
  ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A session as `list --json` prints it: the fields, and names, of GET /bodhi/v1/user/sessions. */
function listedSession(s: SessionSummary) {
  return {
    id: s.handle,
    created_at: instant(s.createdAt),
    last_seen_at: instant(s.lastSeenAt),
    expires_at: instant(s.expiresAt),
    max_expires_at: instant(s.maxExpiresAt),
    ip: s.clientAddress,
    user_agent: s.userAgent,
    browser: s.browser,
    os: s.os,
  };
}

const LIST_HEADINGS = [
  'HANDLE',
  'CREATED',
  'LAST SEEN',
  'EXPIRES',
  'MAX EXPIRES',
  'ADDRESS',
  'BROWSER',
  'OS',
  'USER AGENT',
];

/** Columns padded to their widest cell (the last, the user agent, left as it is); "-" for none. */
function table(rows: readonly (readonly (string | null)[])[]): string {
  const cells = rows.map((row) => row.map((cell) => cell ?? '-'));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return lines(
    cells.map((row) =>
      row
        .map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]) : cell))
        .join('  ')
        .trimEnd(),
    ),
  );
}

/** Runs one admin command through the session service (and the pruner for `prune`). */
export async function runCommand(
  command: CliCommand,
  ctx: CommandContext,
  args: { userId?: string; user?: string },
): Promise<CommandResult> {
  const { service } = ctx;
  const store = service.getSessionStore();
  switch (command) {
    case 'migrate': {
      // Opening the session module ran the migrations: the table is up to date by now.
      const name = ctx.schema ? `${ctx.schema}.${ctx.table}` : ctx.table;
      return {
        text: `session table ${name} is up to date (${ctx.backend})\n`,
        json: {
          table: ctx.table,
          backend: ctx.backend,
          ...(ctx.schema ? { schema: ctx.schema } : {}),
        },
      };
    }
    case 'count': {
      const n = args.user
        ? await service.countSessionsForUser(args.user)
        : await store.countSessions();
      return { text: `${n}\n`, json: { count: n } };
    }
    case 'keys': {
      const keys = args.user ? await service.getSessionKeysForUser(args.user) : await store.keys();
      return { text: lines(keys), json: keys };
    }
    case 'list': {
      const sessions = (await service.listUserSessions(args.user as string)).map(listedSession);
      const rows = sessions.map((s) => [
        s.id,
        s.created_at,
        s.last_seen_at,
        s.expires_at,
        s.max_expires_at,
        s.ip,
        s.browser,
        s.os,
        s.user_agent,
      ]);
      return { text: sessions.length ? table([LIST_HEADINGS, ...rows]) : '', json: sessions };
    }
    case 'clear-user': {
      // Revokes the user's tokens here at once; the grants at the identity provider are
      // ended by a running server, which sends what is queued (the CLI has no provider).
      const userId = args.userId as string;
      const n = await service.clearSessionsForUser(userId);
      await ctx.revocations.enqueue('user_grants', userId, Date.now() + REVOCATION_GIVE_UP_MS);
      return removed(n);
    }
    case 'clear-all':
      return removed(await service.clearAllSessions());
    case 'prune':
      return removed(await ctx.pruner.pruneOnce());
    case 'dump': {
      const rows = await service.dumpAllSessions();
      return { text: lines(rows.map(([id, user]) => `${id}\t${user ?? '-'}`)), json: rows };
    }
  }
}
