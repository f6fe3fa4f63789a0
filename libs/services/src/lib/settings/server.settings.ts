import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import {
  BODHI_ALLOWED_HOSTS,
  BODHI_AUTH_RATE_LIMIT,
  BODHI_AUTH_RATE_LIMIT_WINDOW_SECONDS,
  BODHI_DEPLOYMENT,
  BODHI_ENV_TYPE,
  BODHI_HOME,
  BODHI_HOST,
  BODHI_LOG_FORMAT,
  BODHI_LOG_LEVEL,
  BODHI_METRICS,
  BODHI_METRICS_PORT,
  BODHI_PORT,
  BODHI_PUBLIC_HOST,
  BODHI_PUBLIC_PORT,
  BODHI_PUBLIC_SCHEME,
  BODHI_SCHEME,
  BODHI_TRUST_PROXY,
  DEFAULT_AUTH_RATE_LIMIT,
  DEFAULT_AUTH_RATE_LIMIT_WINDOW_SECONDS,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEPLOYMENT_MODES,
  ENV_TYPES,
  LOG_FORMATS,
  LOG_LEVELS,
  METRICS_MODES,
  PUBLIC_SCHEMES,
} from './setting.constants.js';
import {
  commaSeparated,
  hostname,
  nonNegativeInteger,
  port,
  positiveInteger,
  trustProxy,
} from './setting.fields.js';
import { settingSection } from './setting.section.js';

/**
 * Whether `host` (BODHI_HOST's spelling, IPv6 bare or in brackets) is an "every interface"
 * bind address: `0.0.0.0`, `::` or another spelling of either. No browser names a server so.
 */
export function isWildcardAddress(host: string): boolean {
  const address = host.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(address);
  if (family === 4) return address === '0.0.0.0';
  return family === 6 && new URL(`http://[${address}]`).hostname === '[::]';
}

const serverSchema = z
  .object({
    home: z.string().default(() => path.join(os.homedir(), '.cache', 'bodhi')),
    host: hostname.default(DEFAULT_HOST),
    /** 0 binds any free port (tests). */
    port: port.default(DEFAULT_PORT),
    scheme: z.enum(PUBLIC_SCHEMES).default('http'),
    publicHost: hostname.optional(),
    publicPort: port.optional(),
    publicScheme: z.enum(PUBLIC_SCHEMES).optional(),
    envType: z.enum(ENV_TYPES).default('production'),
    logLevel: z.enum(LOG_LEVELS).default('info'),
    /** Default: JSON lines in production (for a log pipeline), readable lines in development. */
    logFormat: z.enum(LOG_FORMATS).optional(),
    metrics: z.enum(METRICS_MODES).default('off'),
    /** Unset: /metrics is served on the server's port (when metrics are on). */
    metricsPort: port.optional(),
    deployment: z.enum(DEPLOYMENT_MODES).default('standalone'),
    /** Empty: the public host, the bind host, and the loopback aliases of a loopback one. */
    allowedHosts: commaSeparated(z.array(z.union([z.literal('*'), hostname]))).default([]),
    /**
     * Express `trust proxy`: unset (false) trusts no proxy, so the client address, scheme and
     * host are the connection's and the Host header's, whatever X-Forwarded-* says.
     */
    trustProxy: trustProxy.default(false),
    authRateLimit: nonNegativeInteger.default(DEFAULT_AUTH_RATE_LIMIT),
    authRateLimitWindowSeconds: positiveInteger.default(DEFAULT_AUTH_RATE_LIMIT_WINDOW_SECONDS),
  })
  // A wildcard bind is no name a browser could use, so with no public host the Host check
  // would answer 421 to every request: a server that boots but serves nothing. Say so at boot.
  .superRefine((s, ctx) => {
    if (isWildcardAddress(s.host) && s.publicHost === undefined && s.allowedHosts.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['publicHost'],
        message: `is required when ${BODHI_HOST} is a wildcard address (${s.host}): set it to the name browsers reach the server by, or list the names in ${BODHI_ALLOWED_HOSTS}`,
      });
    }
    // A port for metrics that are off would listen for nothing: say which one the operator meant.
    if (s.metricsPort !== undefined && s.metrics === 'off') {
      ctx.addIssue({
        code: 'custom',
        path: ['metricsPort'],
        message: `is set but metrics are off: set ${BODHI_METRICS}=on to serve them there`,
      });
    }
    if (s.metricsPort !== undefined && s.metricsPort !== 0 && s.metricsPort === s.port) {
      ctx.addIssue({
        code: 'custom',
        path: ['metricsPort'],
        message: `must differ from ${BODHI_PORT} (leave it unset to serve metrics on the server's port)`,
      });
    }
  })
  // Browsers reach the server where it binds unless BODHI_PUBLIC_* says otherwise.
  .transform((s) => ({
    ...s,
    home: path.resolve(s.home),
    publicHost: s.publicHost ?? s.host,
    publicPort: s.publicPort ?? s.port,
    publicScheme: s.publicScheme ?? s.scheme,
    logFormat: s.logFormat ?? (s.envType === 'production' ? 'json' : 'pretty'),
  }));

/** The server's own settings: where it lives, binds, is reached, and how it logs. */
export const SERVER_SETTINGS = settingSection(serverSchema, {
  home: BODHI_HOME,
  host: BODHI_HOST,
  port: BODHI_PORT,
  scheme: BODHI_SCHEME,
  publicHost: BODHI_PUBLIC_HOST,
  publicPort: BODHI_PUBLIC_PORT,
  publicScheme: BODHI_PUBLIC_SCHEME,
  envType: BODHI_ENV_TYPE,
  logLevel: BODHI_LOG_LEVEL,
  logFormat: BODHI_LOG_FORMAT,
  metrics: BODHI_METRICS,
  metricsPort: BODHI_METRICS_PORT,
  deployment: BODHI_DEPLOYMENT,
  allowedHosts: BODHI_ALLOWED_HOSTS,
  trustProxy: BODHI_TRUST_PROXY,
  authRateLimit: BODHI_AUTH_RATE_LIMIT,
  authRateLimitWindowSeconds: BODHI_AUTH_RATE_LIMIT_WINDOW_SECONDS,
});

export type ServerSettings = z.output<typeof serverSchema>;
