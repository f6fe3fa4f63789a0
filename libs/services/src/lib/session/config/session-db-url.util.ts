import * as path from 'node:path';
import { BODHI_SESSION_DB_URL } from '../../settings/setting.constants.js';
import type { ConfigIssue } from '../../settings/config-issue.js';
import { formatConfigIssue } from '../../settings/config-issue.js';
import { redactUrlPasswords } from '../../util/redact.util.js';

export type SessionDbKind = 'sqlite' | 'postgres';

export type SessionDbTarget =
  | { kind: 'sqlite'; /** absolute file path, or ':memory:' */ database: string }
  | { kind: 'postgres'; url: string };

/** Thrown for a session database URL the server cannot use; the message names the variable. */
export class InvalidSessionDbUrlError extends Error {
  readonly issue: ConfigIssue;

  constructor(url: string, reason: string) {
    const issue = {
      variable: BODHI_SESSION_DB_URL,
      message: `${reason} (got "${redactUrlPasswords(url)}")`,
    };
    super(formatConfigIssue(issue));
    this.issue = issue;
    this.name = 'InvalidSessionDbUrlError';
  }
}

const SUPPORTED = 'must start with "sqlite:", "postgres://" or "postgresql://"';

/**
 * Decodes percent-escapes (`%20`, `%25`); a `%` not followed by two hex digits cannot be one
 * and is kept as a literal `%` (`sqlite:data/50%/session.sqlite`). Escapes that do not
 * spell UTF-8 (`%FF`) are refused: there is no file name they could mean.
 */
function decodeSqlitePath(url: string, rest: string): string {
  try {
    return decodeURIComponent(rest.replace(/%(?![0-9a-f]{2})/gi, '%25'));
  } catch {
    throw new InvalidSessionDbUrlError(url, 'has a percent-escape that is not UTF-8');
  }
}

/**
 * Picks the backend from the URL scheme alone, the way BodhiApp does at runtime:
 * `sqlite:<path>` (also `sqlite://<path>` and `sqlite::memory:`) or `postgres(ql)://…`.
 * Relative SQLite paths resolve against the working directory; query strings such as
 * `?mode=rwc` are accepted and ignored, since the file is always created when missing.
 */
export function parseSessionDbUrl(url: string): SessionDbTarget {
  const trimmed = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'sqlite') {
    let rest = trimmed.slice('sqlite:'.length).split('?')[0];
    if (rest.startsWith('//')) rest = rest.slice(2);
    if (rest === ':memory:') return { kind: 'sqlite', database: ':memory:' };
    if (!rest) throw new InvalidSessionDbUrlError(url, 'names no SQLite file');
    return { kind: 'sqlite', database: path.resolve(decodeSqlitePath(url, rest)) };
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    // An empty host is valid: pg then uses PGHOST or localhost, as libpq does.
    if (!URL.canParse(trimmed))
      throw new InvalidSessionDbUrlError(url, 'is not a valid PostgreSQL URL');
    return { kind: 'postgres', url: trimmed };
  }
  throw new InvalidSessionDbUrlError(url, SUPPORTED);
}

/** Human-readable name of the target for messages: host and database, never a password. */
export function describeSessionDb(target: SessionDbTarget): string {
  if (target.kind === 'sqlite') return `SQLite ${target.database}`;
  const u = new URL(target.url);
  return `PostgreSQL ${u.hostname || 'localhost'}:${u.port || 5432}${u.pathname || '/'}`;
}
