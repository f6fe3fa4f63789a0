import { pino } from 'pino';

/** What replaces a redacted value: the same mark redactSecrets leaves in text. */
export const CENSOR = '***';

/**
 * Fields that hold a secret wherever they appear in a logged object. Header names are listed
 * in both spellings (pino's paths are case-sensitive): Node lower-cases incoming headers, but
 * a call site may log its own `{ Authorization }`. `code` and `state` (the OAuth callback's)
 * are not among them: errors carry a `code` (ECONNREFUSED, 57P01) an operator needs, and
 * health checks a `state`. They are redacted in any `query` instead, and the request line
 * logs the path without its query.
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
  'Cookie',
  'authorization',
  'Authorization',
  'set-cookie',
  'Set-Cookie',
];
const QUERY_SECRETS = ['query.code', 'query.state'];
/** pino's redaction matches one level per wildcard: a secret field up to four levels deep. */
const DEPTHS = ['', '*', '*.*', '*.*.*'];

/** `field` under `depth` in pino's path syntax (a name with a dash needs brackets). */
const pathAt = (depth: string, field: string) =>
  /^[\w.]+$/.test(field) ? `${depth && `${depth}.`}${field}` : `${depth}[${JSON.stringify(field)}]`;

export const REDACTED_PATHS = DEPTHS.flatMap((depth) =>
  [...SECRET_FIELDS, ...QUERY_SECRETS].map((field) => pathAt(depth, field)),
);

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
 * cross a JSON string's quote or escape, so a match never spans two fields and the line
 * stays valid JSON; a URL's userinfo cannot hold those characters (or / ? #) unencoded.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"\\]*:)[^@/?#\s"\\]*@/gi;
/** A JWT (header.payload.signature, base64url; a header always starts `{"` = eyJ). */
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/g;

/**
 * The last pass over every serialized line before it is written (pino's streamWrite hook):
 * URL passwords and anything shaped like a JWT (access and id tokens are JWTs) go, wherever
 * they are (a message pino fills from an error after the logMethod hook, an object field, a
 * stack), whatever the call site. Lines with no `eyJ` and not both `@` and `://` (nearly
 * all) are returned after substring scans: about 0.17 µs for a 250-byte request line.
 */
export function redactLine(line: string): string {
  let out = line;
  if (out.includes('@') && out.includes('://')) out = out.replace(URL_PASSWORD, `$1${CENSOR}@`);
  if (out.includes('eyJ')) out = out.replace(JWT, CENSOR);
  return out;
}
