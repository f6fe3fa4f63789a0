import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { InvalidSessionDbUrlError, parseSessionDbUrl } from '../session/session-db-url.util.js';
import { InvalidEncryptionKeyError, parseEncryptionKeys } from '../session/session-cipher.js';
import {
  BODHI_DEPLOYMENT,
  BODHI_AUTH_CLIENT_ID,
  BODHI_AUTH_CLIENT_SECRET,
  BODHI_AUTH_URL,
  BODHI_ENV_TYPE,
  BODHI_HOME,
  BODHI_HOST,
  BODHI_LOG_LEVEL,
  BODHI_PORT,
  BODHI_PUBLIC_HOST,
  BODHI_PUBLIC_PORT,
  BODHI_PUBLIC_SCHEME,
  BODHI_SCHEME,
  BODHI_SESSION_DB_SCHEMA,
  BODHI_SESSION_DB_TABLE,
  BODHI_SESSION_DB_URL,
  BODHI_SESSION_ENCRYPTION_KEYS,
  BODHI_SESSION_MAX_BYTES,
  BODHI_SESSION_PRUNE_INTERVAL_SECONDS,
  BODHI_SESSION_SECRET,
  BODHI_SESSION_TOUCH_AFTER_SECONDS,
  BODHI_SESSION_TTL_SECONDS,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_SESSION_MAX_BYTES,
  DEFAULT_SESSION_PRUNE_INTERVAL_SECONDS,
  DEFAULT_SESSION_TABLE,
  DEFAULT_SESSION_TOUCH_AFTER_SECONDS,
  DEFAULT_SESSION_TTL_SECONDS,
  DEPLOYMENT_MODES,
  ENV_TYPES,
  LOG_LEVELS,
  MIN_SESSION_SECRET_LENGTH,
  PUBLIC_SCHEMES,
} from './setting.constants.js';

export type Env = Record<string, string | undefined>;

/** SQL identifiers are interpolated into DDL, so only plain names are accepted. */
export const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const identifier = z
  .string()
  .regex(
    SQL_IDENTIFIER,
    'must be a plain SQL name: letters, digits, _ (at most 63), not starting with a digit',
  );
const port = z.coerce
  .number()
  .int('must be a whole number')
  .min(0, 'must be a port number (0-65535)')
  .max(65535, 'must be a port number (0-65535)');
const hostname = z.string().regex(/^[A-Za-z0-9.:[\]_-]+$/, 'must be a host name or IP address');
const httpUrl = z.string().refine((v) => {
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}, 'must be an http(s) URL');
const positiveSeconds = z.coerce
  .number()
  .int('must be a whole number of seconds')
  .positive('must be positive');
const nonNegativeSeconds = z.coerce
  .number()
  .int('must be a whole number of seconds')
  .nonnegative('must not be negative');

/**
 * The schema every BODHI_* setting passes through at boot (a Standard Schema, so it also
 * plugs into ConfigModule's `validationSchema`). Messages never echo a value, because
 * URLs and secrets are among them.
 */
export const bodhiEnvSchema = z
  .object({
    [BODHI_HOME]: z.string().optional(),
    [BODHI_HOST]: hostname.default(DEFAULT_HOST),
    [BODHI_PORT]: port.default(DEFAULT_PORT),
    [BODHI_SCHEME]: z.enum(PUBLIC_SCHEMES).default('http'),
    [BODHI_PUBLIC_HOST]: hostname.optional(),
    [BODHI_PUBLIC_PORT]: port.optional(),
    [BODHI_ENV_TYPE]: z.enum(ENV_TYPES).default('production'),
    [BODHI_LOG_LEVEL]: z.enum(LOG_LEVELS).default('info'),
    [BODHI_AUTH_URL]: httpUrl.optional(),
    [BODHI_AUTH_CLIENT_ID]: z.string().optional(),
    [BODHI_AUTH_CLIENT_SECRET]: z.string().optional(),
    [BODHI_SESSION_DB_URL]: z
      .string()
      .optional()
      .superRefine((url, ctx) => {
        if (url === undefined) return;
        try {
          parseSessionDbUrl(url);
        } catch (e) {
          if (!(e instanceof InvalidSessionDbUrlError)) throw e;
          ctx.addIssue({
            code: 'custom',
            message: e.message.replace(`${BODHI_SESSION_DB_URL} `, ''),
          });
        }
      }),
    [BODHI_DEPLOYMENT]: z.enum(DEPLOYMENT_MODES).default('standalone'),
    [BODHI_PUBLIC_SCHEME]: z.enum(PUBLIC_SCHEMES).optional(),
    [BODHI_SESSION_SECRET]: z
      .string()
      .min(MIN_SESSION_SECRET_LENGTH, `must be at least ${MIN_SESSION_SECRET_LENGTH} characters`)
      .optional(),
    [BODHI_SESSION_TTL_SECONDS]: positiveSeconds.default(DEFAULT_SESSION_TTL_SECONDS),
    [BODHI_SESSION_PRUNE_INTERVAL_SECONDS]: positiveSeconds.default(
      DEFAULT_SESSION_PRUNE_INTERVAL_SECONDS,
    ),
    [BODHI_SESSION_TOUCH_AFTER_SECONDS]: nonNegativeSeconds.default(
      DEFAULT_SESSION_TOUCH_AFTER_SECONDS,
    ),
    [BODHI_SESSION_DB_TABLE]: identifier.default(DEFAULT_SESSION_TABLE),
    [BODHI_SESSION_DB_SCHEMA]: identifier.optional(),
    [BODHI_SESSION_ENCRYPTION_KEYS]: z
      .string()
      .optional()
      .transform((value, ctx) => {
        if (value === undefined) return [];
        const keys = value
          .split(',')
          .map((k) => k.trim())
          .filter(Boolean);
        try {
          parseEncryptionKeys(keys);
        } catch (e) {
          if (!(e instanceof InvalidEncryptionKeyError)) throw e;
          ctx.addIssue({ code: 'custom', message: e.message });
        }
        return keys;
      }),
    [BODHI_SESSION_MAX_BYTES]: z.coerce
      .number()
      .int('must be a whole number of bytes')
      .min(1024, 'must be at least 1024 bytes')
      .default(DEFAULT_SESSION_MAX_BYTES),
  })
  .superRefine((env, ctx) => {
    if (env[BODHI_DEPLOYMENT] !== 'cluster') return;
    const url = env[BODHI_SESSION_DB_URL];
    if (!url || parseSessionDbUrl(url).kind !== 'postgres') {
      ctx.addIssue({
        code: 'custom',
        path: [BODHI_SESSION_DB_URL],
        message: `must be a postgres:// URL when ${BODHI_DEPLOYMENT}=cluster (instances share one PostgreSQL)`,
      });
    }
    if (env[BODHI_SESSION_ENCRYPTION_KEYS].length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: [BODHI_SESSION_ENCRYPTION_KEYS],
        message: `is required when ${BODHI_DEPLOYMENT}=cluster (session data in a shared database is encrypted)`,
      });
    }
    if (!env[BODHI_SESSION_SECRET]) {
      ctx.addIssue({
        code: 'custom',
        path: [BODHI_SESSION_SECRET],
        message: `is required when ${BODHI_DEPLOYMENT}=cluster (every instance must sign cookies alike)`,
      });
    }
  });

/** Validated, defaulted settings: what SettingService serves. */
export interface BodhiSettings {
  home: string;
  host: string;
  /** 0 binds any free port (tests). */
  port: number;
  scheme: (typeof PUBLIC_SCHEMES)[number];
  /** Where browsers reach the server; defaults to the bind scheme, host and port. */
  publicHost: string;
  publicPort: number;
  envType: (typeof ENV_TYPES)[number];
  logLevel: (typeof LOG_LEVELS)[number];
  /** Identity provider; required by the auth service, not by the store alone. */
  auth: { issuer?: string; clientId?: string; clientSecret?: string };
  sessionDbUrl: string;
  deployment: (typeof DEPLOYMENT_MODES)[number];
  publicScheme: (typeof PUBLIC_SCHEMES)[number];
  /** Undefined means: standalone, generate and keep one under BODHI_HOME. */
  sessionSecret?: string;
  sessionTtlSeconds: number;
  sessionPruneIntervalSeconds: number;
  sessionTouchAfterSeconds: number;
  sessionTable: string;
  sessionSchema?: string;
  /** Base64 keys; empty means data is stored unencrypted. */
  sessionEncryptionKeys: string[];
  sessionMaxBytes: number;
}

/** Boot-stopping configuration error: one message naming each offending variable. */
export class InvalidSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'InvalidSettingsError';
  }
}

/**
 * Validates the environment (blank values count as unset, as with `FOO=` in a shell)
 * and fills in defaults, including the SQLite file under BODHI_HOME.
 */
export function parseSettings(env: Env): BodhiSettings {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''),
  );
  const result = bodhiEnvSchema.safeParse(present);
  if (!result.success) {
    throw new InvalidSettingsError(
      result.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`),
    );
  }
  const v = result.data;
  const home = path.resolve(v[BODHI_HOME] ?? path.join(os.homedir(), '.cache', 'bodhi'));
  return {
    home,
    host: v[BODHI_HOST],
    port: v[BODHI_PORT],
    scheme: v[BODHI_SCHEME],
    publicHost: v[BODHI_PUBLIC_HOST] ?? v[BODHI_HOST],
    publicPort: v[BODHI_PUBLIC_PORT] ?? v[BODHI_PORT],
    envType: v[BODHI_ENV_TYPE],
    logLevel: v[BODHI_LOG_LEVEL],
    auth: {
      issuer: v[BODHI_AUTH_URL],
      clientId: v[BODHI_AUTH_CLIENT_ID],
      clientSecret: v[BODHI_AUTH_CLIENT_SECRET],
    },
    sessionDbUrl: v[BODHI_SESSION_DB_URL] ?? `sqlite:${path.join(home, 'session.sqlite')}`,
    deployment: v[BODHI_DEPLOYMENT],
    publicScheme: v[BODHI_PUBLIC_SCHEME] ?? v[BODHI_SCHEME],
    sessionSecret: v[BODHI_SESSION_SECRET],
    sessionTtlSeconds: v[BODHI_SESSION_TTL_SECONDS],
    sessionPruneIntervalSeconds: v[BODHI_SESSION_PRUNE_INTERVAL_SECONDS],
    sessionTouchAfterSeconds: v[BODHI_SESSION_TOUCH_AFTER_SECONDS],
    sessionTable: v[BODHI_SESSION_DB_TABLE],
    sessionSchema: v[BODHI_SESSION_DB_SCHEMA],
    sessionEncryptionKeys: v[BODHI_SESSION_ENCRYPTION_KEYS],
    sessionMaxBytes: v[BODHI_SESSION_MAX_BYTES],
  };
}
