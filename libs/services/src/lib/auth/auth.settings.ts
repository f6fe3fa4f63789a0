import { z } from 'zod';
import { InvalidSettingsError } from '../settings/config-issue.js';
import {
  BODHI_AUTH_ADMIN_API,
  BODHI_AUTH_CLIENT_ID,
  BODHI_AUTH_CLIENT_SECRET,
  BODHI_AUTH_TIMEOUT_MS,
  BODHI_AUTH_TOKEN_ALGORITHMS,
  BODHI_AUTH_URL,
  DEFAULT_AUTH_TIMEOUT_MS,
  IDENTITY_PROVIDER_ADMIN_APIS,
  IdentityProviderAdminApi,
} from '../settings/setting.constants.js';
import { commaSeparated, httpUrl } from '../settings/setting.fields.js';
import { settingSection } from '../settings/setting.section.js';
import { ACCESS_TOKEN_ALGORITHMS, AccessTokenAlgorithm } from './auth.constants.js';

/** The identity provider the server logs users in with. */
export interface AuthSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The provider's admin API that role changes go through; `none` refuses them. */
  adminApi: IdentityProviderAdminApi;
  /** The JWS algorithms the provider's access tokens may be signed with. */
  tokenAlgorithms: AccessTokenAlgorithm[];
  /**
   * How long one call to the provider (discovery, a grant, a revocation, the key set, its
   * admin API) may take; a call that takes longer failed as an outage does.
   */
  timeoutMs: number;
}

/**
 * Below 100 ms a healthy provider fails too; above 30 s (openid-client's own bound) a stalled
 * one holds requests for half a minute, which is what the setting is there to prevent.
 */
const MIN_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 30_000;

const TIMEOUT_MESSAGE = `must be a whole number of milliseconds from ${MIN_TIMEOUT_MS} to ${MAX_TIMEOUT_MS}`;

const TOKEN_ALGORITHMS_MESSAGE = `must list JWS algorithms among ${ACCESS_TOKEN_ALGORITHMS.join(', ')} (asymmetric ones only)`;

const authSchema = z.object({
  issuer: httpUrl.optional(),
  clientId: z.string().optional(),
  clientSecret: z.string().optional(),
  adminApi: z.enum(IDENTITY_PROVIDER_ADMIN_APIS).default('none'),
  tokenAlgorithms: commaSeparated(
    z
      .array(z.enum(ACCESS_TOKEN_ALGORITHMS, TOKEN_ALGORITHMS_MESSAGE))
      .min(1, TOKEN_ALGORITHMS_MESSAGE),
  ).default(['RS256']),
  timeoutMs: z.coerce
    .number({ error: TIMEOUT_MESSAGE })
    .int(TIMEOUT_MESSAGE)
    .min(MIN_TIMEOUT_MS, TIMEOUT_MESSAGE)
    .max(MAX_TIMEOUT_MS, TIMEOUT_MESSAGE)
    .default(DEFAULT_AUTH_TIMEOUT_MS),
});

/**
 * Optional at boot (the admin CLI and the store need no provider); required by the auth
 * service, which asks for them through `requireAuthSettings`.
 */
export const AUTH_SETTINGS = settingSection(authSchema, {
  issuer: BODHI_AUTH_URL,
  clientId: BODHI_AUTH_CLIENT_ID,
  clientSecret: BODHI_AUTH_CLIENT_SECRET,
  adminApi: BODHI_AUTH_ADMIN_API,
  tokenAlgorithms: BODHI_AUTH_TOKEN_ALGORITHMS,
  timeoutMs: BODHI_AUTH_TIMEOUT_MS,
});

export type PartialAuthSettings = z.output<typeof authSchema>;

const REQUIRED = ['issuer', 'clientId', 'clientSecret'] as const;

/** The provider settings, all present; a missing one stops boot naming the variable. */
export function requireAuthSettings(auth: PartialAuthSettings): AuthSettings {
  const variables = AUTH_SETTINGS.variables;
  const missing = REQUIRED.filter((key) => !auth[key]);
  if (missing.length > 0) {
    throw new InvalidSettingsError(
      missing.map((key) => ({
        variable: variables[key],
        message: 'is required (the identity provider to log users in with)',
      })),
    );
  }
  return auth as AuthSettings;
}
