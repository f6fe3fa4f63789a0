/**
 * The validators every configuration schema is built from: the environment's sections
 * (server, auth, session) and the session module's options use the same pieces, so a
 * rule and its message exist once.
 */
import { isIP, isIPv4 } from 'node:net';
import { z } from 'zod';
import {
  InvalidEncryptionKeyError,
  parseEncryptionKeys,
} from '../session/crypto/session-cipher.js';
import {
  InvalidSessionDbUrlError,
  parseSessionDbUrl,
} from '../session/config/session-db-url.util.js';
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

/** Names Express (proxy-addr) gives to address ranges in `trust proxy`. */
const TRUST_PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An IPv4 netmask: ones, then zeros (255.255.255.0), not none. */
const isNetmask = (mask: string): boolean => {
  if (!isIPv4(mask)) return false;
  const bits = mask.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const zeros = 2 ** 32 - 1 - bits;
  return bits !== 0 && (zeros & (zeros + 1)) === 0;
};

/** Why `entry` is no `trust proxy` address, subnet (`/prefix` or IPv4 `/netmask`) or range name. */
const trustProxyEntryIssue = (entry: string): string | undefined => {
  if (TRUST_PROXY_RANGES.has(entry)) return undefined;
  const slash = entry.lastIndexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) {
    return `'${entry}' is not an IP address, a subnet, or one of loopback, linklocal, uniquelocal`;
  }
  if (slash === -1) return undefined;
  const range = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  const valid = /^\d+$/.test(range)
    ? Number(range) >= 1 && Number(range) <= max
    : family === 4 && isNetmask(range);
  return valid ? undefined : `'${entry}' has no valid prefix length (1-${max}) or netmask`;
};

/**
 * Express's `trust proxy`, read as Express reads it, and checked here so a typo stops boot
 * naming the variable instead of failing at the first request: `true`/`false`, a hop count
 * (`1`: the nearest proxy), or a comma list of addresses, subnets and the range names
 * `loopback`, `linklocal`, `uniquelocal`. A number must become a number: Express takes the
 * string `'1'` for an address.
 */
export const trustProxy = z
  .string()
  .trim()
  .min(1, 'must name the trusted proxies')
  .superRefine((value, ctx) => {
    if (/^(true|false|\d+)$/i.test(value)) return;
    for (const entry of value.split(',').map((v) => v.trim())) {
      const message = entry ? trustProxyEntryIssue(entry) : 'has an empty entry';
      if (message) ctx.addIssue({ code: 'custom', message });
    }
  })
  .transform((value): TrustProxy => {
    if (/^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
    if (/^\d+$/.test(value)) return Number(value);
    return value.split(',').map((v) => v.trim());
  });

/** What Express's `trust proxy` setting takes: all, none, a hop count, or addresses. */
export type TrustProxy = boolean | number | string[];

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
