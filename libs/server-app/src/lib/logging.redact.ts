import { REDACTED, redactJwts, redactUrlPasswords, type UserinfoSyntax } from '@bodhi/services';
import { pino } from 'pino';

/**
 * Keys whose value is a secret wherever they appear in a logged object, matched in any case
 * (Cookie, Set-Cookie, accessToken). `code` and `state` (the OAuth callback's) are secrets
 * only in a `query`: errors carry a `code` (ECONNREFUSED, 57P01) an operator needs, and health
 * checks a `state`; the request line logs the path without its query.
 */
const SECRET_KEYS = new Set(
  [
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
    'set-cookie',
  ].map((key) => key.toLowerCase()),
);
const QUERY_SECRET_KEYS = new Set([...SECRET_KEYS, 'code', 'state']);
/** How deep logged objects are searched (also the guard against a cycle). */
const MAX_DEPTH = 8;

/** Objects a log line shows as their own fields: searched for secrets. */
function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || Array.isArray(value);
}

/**
 * `value` with every secret key's value replaced by REDACTED and every error by loggedError, at
 * any depth up to MAX_DEPTH; the caller's objects are never changed (copied where something
 * is replaced, returned as they are otherwise). Only plain objects and arrays are searched:
 * the request and response (streams, serialized to a few safe fields) are not walked, and
 * neither is any other class instance.
 */
function censored(value: unknown, depth: number, secretKeys: Set<string>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return loggedError(value);
  if (depth >= MAX_DEPTH || !isPlain(value)) return value;
  const fields = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(fields)) {
    const field = fields[key];
    const lower = key.toLowerCase();
    const out =
      field !== undefined && secretKeys.has(lower)
        ? REDACTED
        : censored(field, depth + 1, lower === 'query' ? QUERY_SECRET_KEYS : SECRET_KEYS);
    if (out !== field) {
      copy ??= (Array.isArray(value) ? [...value] : { ...fields }) as Record<string, unknown>;
      copy[key] = out;
    }
  }
  return copy ?? value;
}

/**
 * A logged object (a line's fields, or a child logger's bindings) with its secrets censored:
 * pino's `formatters.log` and `formatters.bindings`. This replaces pino's `redact` paths:
 * those ran every path (about 90: wildcards for four depths, both spellings) over every object
 * of every line and binding, 70-130 µs of CPU per request (its two child loggers and request
 * line, in a micro loop on a 2-core machine) against under 1 µs for this walk.
 */
export const censorSecrets = (fields: Record<string, unknown>): Record<string, unknown> =>
  censored(fields, 0, SECRET_KEYS) as Record<string, unknown>;

/**
 * An error as a log line shows it: an allow-list, not pino's copy of every enumerable
 * property (a TypeORM QueryFailedError carries the statement's `parameters`, which may be a
 * session's JSON with its tokens, and the raw `driverError`). The message and stack include
 * the causes' (pino's helpers); `code` (ECONNREFUSED, a SQLSTATE) and `kind` (the store's
 * failure kind) are what an operator acts on. Anything else logged under `err` keeps only
 * those fields when it is an object.
 */
export function loggedError(err: unknown): unknown {
  if (err === null || typeof err !== 'object') return err;
  const full: Record<string, unknown> =
    err instanceof Error ? pino.stdSerializers.err(err) : (err as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const key of ['type', 'message', 'stack', 'code', 'kind']) {
    if (full[key] !== undefined) out[key] = full[key];
  }
  return out;
}

/**
 * A URL's password inside a serialized line: scheme://user:password@. Neither part may
 * cross a JSON string's quote or escape, so a redaction never spans two fields and the line
 * stays valid JSON; a URL's userinfo cannot hold those characters (or / ? #) unencoded.
 */
const LINE_USERINFO: UserinfoSyntax = {
  user: /[^:/?#@\s"\\]*/y,
  password: /[^@/?#\s"\\]*/y,
};

/**
 * Every pattern this module applies to a line or a logged field (request-derived text among
 * them): a spec runs a ReDoS checker over them, so a pattern added here must be added to this
 * list. The JWT scan is redactJwts's (@bodhi/services), whose module lists its own.
 */
export const LOG_REDACTION_PATTERNS: readonly RegExp[] = [
  LINE_USERINFO.user,
  LINE_USERINFO.password,
];

/**
 * The last pass over every serialized line before it is written (pino's streamWrite hook):
 * URL passwords and anything shaped like a JWT (access and id tokens are JWTs) go, wherever
 * they are (a message pino fills from an error after the logMethod hook, an object field, a
 * stack), whatever the call site. Both are scans linear in the line (a request's 15 KB path
 * used to cost seconds here: #28). Lines with no `eyJ` and not both `@` and `://` (nearly
 * all) are returned after substring scans: about 0.17 µs for a 250-byte request line.
 */
export function redactLine(line: string): string {
  let out = line;
  if (out.includes('@') && out.includes('://')) out = redactUrlPasswords(out, LINE_USERINFO);
  if (out.includes('eyJ')) out = redactJwts(out);
  return out;
}

/**
 * Longest request field (path, client address) a log line carries, in characters: real paths
 * are far shorter, and a hostile one (up to Node's 16 KB header limit) is cut, so no line
 * grows with what an anonymous client sends.
 */
export const MAX_LOGGED_FIELD = 2048;

/** Characters that end both a JWT and a URL's password in a line: a cut after one splits neither. */
const SECRET_BOUNDARIES = new Set([...' \t\n\r\f\v/?#@"\\']);

/**
 * `value` as a log line may carry it: whole when at most `max` characters, else its first
 * `max` and a marker of the cut with the full length, `…(15604 chars)`. Cut before the line
 * is redacted, so a secret the cut splits would no longer look like one: in the part after the
 * last character that ends a secret, anything from an `eyJ` (a JWT's start) or after a `:`
 * (a URL password's start) is dropped and written `***`. A password or JWT that ends before
 * the cut is whole, and redactLine redacts it.
 */
export function capped(value: string, max = MAX_LOGGED_FIELD): string {
  if (value.length <= max) return value;
  // Not between the halves of a surrogate pair.
  const last = value.charCodeAt(max - 1);
  const head = value.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
  let tail = head.length;
  while (tail > 0 && !SECRET_BOUNDARIES.has(head[tail - 1])) tail--;
  const jwt = head.indexOf('eyJ', tail);
  const colon = head.indexOf(':', tail);
  const fragment = Math.min(jwt === -1 ? head.length : jwt, colon === -1 ? head.length : colon + 1);
  const dropped = fragment < head.length ? REDACTED : '';
  return `${head.slice(0, fragment)}${dropped}…(${value.length} chars)`;
}
