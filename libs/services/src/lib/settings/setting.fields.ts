/**
 * The validators every configuration schema is built from: the environment's sections
 * (server, auth, session) and the session module's options use the same pieces, so a
 * rule and its message exist once.
 */
import { z } from 'zod';
import { InvalidEncryptionKeyError, parseEncryptionKeys } from '../session/session-cipher.js';
import { InvalidSessionDbUrlError, parseSessionDbUrl } from '../session/session-db-url.util.js';
import { MIN_SESSION_SECRET_LENGTH } from './setting.constants.js';

/** SQL identifiers are interpolated into DDL, so only plain names are accepted. */
export const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export const sqlIdentifier = z
  .string()
  .regex(
    SQL_IDENTIFIER,
    'must be a plain SQL name: letters, digits, _ (at most 63), not starting with a digit',
  );

/** A whole number from a number or its text (environment values are strings). */
const integer = (message: string) => z.coerce.number({ error: message }).int(message);

export const positiveInteger = integer('must be a positive integer').positive(
  'must be a positive integer',
);
export const nonNegativeInteger = integer('must be a non-negative integer').nonnegative(
  'must be a non-negative integer',
);

export const port = integer('must be a port number (0-65535)')
  .min(0, 'must be a port number (0-65535)')
  .max(65535, 'must be a port number (0-65535)');

export const hostname = z
  .string()
  .regex(/^[A-Za-z0-9.:[\]_-]+$/, 'must be a host name or IP address');

export const httpUrl = z.string().refine((v) => {
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}, 'must be an http(s) URL');

export const sessionSecret = z
  .string()
  .min(MIN_SESSION_SECRET_LENGTH, `must be at least ${MIN_SESSION_SECRET_LENGTH} characters`);

/** A session database URL the server can open (`sqlite:…` or `postgres(ql)://…`). */
export const sessionDbUrl = z.string().superRefine((url, ctx) => {
  try {
    parseSessionDbUrl(url);
  } catch (e) {
    if (!(e instanceof InvalidSessionDbUrlError)) throw e;
    ctx.addIssue({ code: 'custom', message: e.issue.message });
  }
});

/** `list` (an array schema) over a comma-separated string, as the environment holds lists;
 * blank entries are dropped. */
export const commaSeparated = <T extends z.ZodType>(list: T) =>
  z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((v) => v.trim())
            .filter(Boolean)
        : value,
    list,
  );

/** Base64 256-bit keys. */
export const encryptionKeys = commaSeparated(
  z.array(z.string()).superRefine((keys, ctx) => {
    try {
      parseEncryptionKeys(keys);
    } catch (e) {
      if (!(e instanceof InvalidEncryptionKeyError)) throw e;
      ctx.addIssue({ code: 'custom', message: e.message });
    }
  }),
);

export const sessionBytes = integer('must be a whole number of bytes').min(
  1024,
  'must be at least 1024 bytes',
);
