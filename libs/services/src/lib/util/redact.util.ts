/** What a redacted secret is written as, in messages and log lines alike. */
export const REDACTED = '***';

/**
 * Where a URL's user name and password end, as a scan for passwords reads them: two sticky
 * patterns, each matching a run of the part's characters from where the scan stands. A run
 * never backtracks and starts only where the scan puts it, so it costs its length.
 */
export interface UserinfoSyntax {
  /** Characters of a user name (it ends at the `:` before the password). */
  user: RegExp;
  /** Characters of a password (it ends at the `@` before the host). */
  password: RegExp;
}

/**
 * Free text (a driver's message, an error): a user name stops where a URL's userinfo cannot
 * go on; a password is anything up to the `@` or a space, so one a URL parser would refuse
 * (an unencoded `/`) is still redacted whole.
 */
export const FREE_TEXT_USERINFO: UserinfoSyntax = {
  user: /[^:/?#@\s]*/y,
  password: /[^@\s]*/y,
};

/** A run of base64url characters: a part of a JWT. */
const BASE64URL_RUN = /[\w-]*/y;

/**
 * Every pattern this module applies to text it is given (which may be a request's): a spec
 * runs a ReDoS checker over them, so a pattern added here must be added to this list.
 */
export const REDACTION_PATTERNS: readonly RegExp[] = [
  FREE_TEXT_USERINFO.user,
  FREE_TEXT_USERINFO.password,
  BASE64URL_RUN,
];

/** Where the run of `run` (a sticky pattern that may match empty) starting at `from` ends. */
function runEnd(run: RegExp, text: string, from: number): number {
  run.lastIndex = from;
  run.test(text);
  return run.lastIndex;
}

const isLetter = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
/** A URL scheme's characters after its first: letters, digits, `+`, `.`, `-`. */
const isSchemeChar = (c: number) =>
  isLetter(c) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2e || c === 0x2d;

/**
 * Whether a scheme (`[a-z][a-z0-9+.-]*`, any case) ends at `at`: the run of scheme characters
 * before it holds a letter (a scheme may start at any letter of the run). The run stops at a
 * `:`, so the runs before two `://` never overlap: every character is looked at once.
 */
function schemeEndsAt(text: string, at: number): boolean {
  for (let i = at - 1; i >= 0 && isSchemeChar(text.charCodeAt(i)); i--) {
    if (isLetter(text.charCodeAt(i))) return true;
  }
  return false;
}

/**
 * Replaces the password of every URL with userinfo found in `text` by `***`:
 * `scheme://user:password@` → `scheme://user:***@`. Works on free text (error messages, log
 * lines), not only on a lone URL, because drivers like to echo connection strings inside
 * their own messages. `syntax` says where a user name and a password end.
 *
 * A scan, not one regular expression: `/[a-z][a-z0-9+.-]*:\/\/…@/g` restarts at every letter
 * of a long word and at every `://` before an `@`-less stretch, quadratic in the text (#28).
 * Here each `://` is visited once, the scheme before it and the user name after it are runs
 * that stop at a `:` (so two never overlap), and the password's end, once found, is reused by
 * every later password starting before it: linear in the text.
 */
export function redactUrlPasswords(
  text: string,
  syntax: UserinfoSyntax = FREE_TEXT_USERINFO,
): string {
  let out = '';
  let copied = 0;
  // Where the last password scan stopped: a password starting at or before it stops there too.
  let passwordStop = -1;
  for (let at = text.indexOf('://'); at !== -1; at = text.indexOf('://', at + 1)) {
    if (!schemeEndsAt(text, at)) continue;
    const colon = runEnd(syntax.user, text, at + 3);
    if (text[colon] !== ':') continue;
    if (colon + 1 > passwordStop) passwordStop = runEnd(syntax.password, text, colon + 1);
    if (text[passwordStop] !== '@') continue;
    out += `${text.slice(copied, colon + 1)}${REDACTED}`;
    copied = passwordStop;
    at = passwordStop;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * Replaces every JWT in `text` (header.payload.signature, base64url; a header always starts
 * `{"`, which is `eyJ`) by `***`, as `/eyJ[\w-]+\.[\w-]+\.[\w-]+/g` would, in linear time: that
 * expression restarts at every `eyJ` of a long run and rescans the run each time (#28). Every
 * `eyJ` inside one base64url run ends its header at the same place, so one that is no JWT's
 * start rules out the rest of its run; each run is read at most three times (as a header,
 * a payload and a signature).
 */
export function redactJwts(text: string): string {
  let out = '';
  let copied = 0;
  for (let at = text.indexOf('eyJ'); at !== -1;) {
    const headerEnd = runEnd(BASE64URL_RUN, text, at + 3);
    const end = jwtEnd(text, at, headerEnd);
    if (end === undefined) {
      at = text.indexOf('eyJ', headerEnd);
      continue;
    }
    out += `${text.slice(copied, at)}${REDACTED}`;
    copied = end;
    at = text.indexOf('eyJ', end);
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** The end of the JWT whose header runs from `at` to `headerEnd`, if it is one. */
function jwtEnd(text: string, at: number, headerEnd: number): number | undefined {
  // eyJ and at least one character more, then two dot-separated non-empty parts.
  if (headerEnd === at + 3 || text[headerEnd] !== '.') return undefined;
  const payloadEnd = runEnd(BASE64URL_RUN, text, headerEnd + 1);
  if (payloadEnd === headerEnd + 1 || text[payloadEnd] !== '.') return undefined;
  const signatureEnd = runEnd(BASE64URL_RUN, text, payloadEnd + 1);
  return signatureEnd === payloadEnd + 1 ? undefined : signatureEnd;
}

/** Removes every given secret (passwords, keys) from `text`, plus any URL password. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = redactUrlPasswords(text);
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** The password in a URL, decoded, if there is one: what a message must never contain. */
export function urlPassword(url: string): string | undefined {
  try {
    const password = new URL(url).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}
