import { createHash } from 'node:crypto';

/**
 * Where a session is stored: the SHA-256 of its id, in hex. The id is a bearer credential
 * (192 random bits, the cookie's value); the table holds only its hash, so a copy of the
 * database or a listing of its keys gives no cookie anyone could send. The hash is also the
 * associated data of the row's encryption, which binds the row to its key.
 */
export function sessionKey(sid: string): string {
  return createHash('sha256').update(sid, 'utf8').digest('hex');
}

/** What a session key looks like (SQL and JS regular expression alike). */
export const SESSION_KEY_PATTERN = '^[0-9a-f]{64}$';

/** Logs name a session by a short prefix of its key. */
export function keyRef(key: string): string {
  return key.slice(0, 12);
}

/** `keyRef` of the session `sid`. */
export function sessionRef(sid: string): string {
  return keyRef(sessionKey(sid));
}
