// What the other layers and the apps use, and nothing else. Names only the test kit, specs and
// the benchmark use are in ./testing.ts (`@bodhi/services/testing`).

// Settings: the variable names (re-exported by @bodhi/napi-config for embedders), the schema, the service.
export {
  BODHI_ALLOWED_HOSTS,
  BODHI_AUTH_ADMIN_API,
  BODHI_AUTH_CLIENT_ID,
  BODHI_AUTH_CLIENT_SECRET,
  BODHI_AUTH_RATE_LIMIT,
  BODHI_AUTH_RATE_LIMIT_WINDOW_SECONDS,
  BODHI_AUTH_TOKEN_ALGORITHMS,
  BODHI_AUTH_TIMEOUT_MS,
  BODHI_AUTH_URL,
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
  BODHI_SESSION_CACHE,
  BODHI_SESSION_CACHE_LISTEN_URL,
  BODHI_SESSION_CLIENT_ADDRESS,
  BODHI_SESSION_DB_BUSY_TIMEOUT_MS,
  BODHI_SESSION_DB_MIGRATION_URL,
  BODHI_SESSION_DB_POOL_SIZE,
  BODHI_SESSION_DB_SCHEMA,
  BODHI_SESSION_DB_STATEMENTS,
  BODHI_SESSION_DB_TABLE,
  BODHI_SESSION_DB_URL,
  BODHI_SESSION_ENCRYPTION_KEYS,
  BODHI_SESSION_LOGIN_TTL_SECONDS,
  BODHI_SESSION_MAX_BYTES,
  BODHI_SESSION_MAX_LIFETIME_SECONDS,
  BODHI_SESSION_PRUNE_INTERVAL_SECONDS,
  BODHI_SESSION_SECRET,
  BODHI_SESSION_TOUCH_AFTER_SECONDS,
  BODHI_SESSION_TTL_SECONDS,
  BODHI_TRUST_PROXY,
  DEFAULT_HOST,
  DEFAULT_PORT,
} from './lib/settings/setting.constants.js';
export { parseSettings } from './lib/settings/setting.schema.js';
export type { SessionSettings } from './lib/settings/setting.schema.js';
export { isWildcardAddress } from './lib/settings/server.settings.js';
export type { ServerSettings } from './lib/settings/server.settings.js';
export type { Env } from './lib/settings/setting.section.js';
export { InvalidSettingsError } from './lib/settings/config-issue.js';
export { SettingService } from './lib/settings/setting.service.js';
export { SettingsModule } from './lib/settings/settings.module.js';
export type { SettingsModuleOptions } from './lib/settings/settings.module.js';

// Sessions: the module and its service, the keys and errors callers see.
export { SessionModule } from './lib/session/session.module.js';
export { InvalidSessionOptionsError } from './lib/session/config/session.options.js';
export { sessionOptionsFromSettings } from './lib/session/config/session-options.from-settings.js';
export {
  InvalidSessionDbUrlError,
  parseSessionDbUrl,
} from './lib/session/config/session-db-url.util.js';
export type { SessionDbKind } from './lib/session/config/session-db-url.util.js';
export { DefaultSessionService } from './lib/session/session.service.js';
export {
  SECURE_SESSION_COOKIE_NAME,
  SESSION_COOKIE_NAME,
} from './lib/session/session.constants.js';
export {
  InvalidSessionInputError,
  SessionStoreUnavailableError,
  SessionTooLargeError,
} from './lib/session/session.errors.js';
export { SessionDbUnavailableError } from './lib/session/store/session-data-source.factory.js';
export { recordSessionDevice } from './lib/session/store/session-device.js';
export type { SessionSummary } from './lib/session/store/session-device.js';
export { userNotBefore } from './lib/session/store/session-store.backend.js';
export { sessionKey, sessionRef } from './lib/session/store/session-key.js';
export { SessionPruner } from './lib/session/store/session.pruner.js';
export { SessionLockTimeoutError } from './lib/session/locks/session-lock.js';

// Revocation: ending a session's credentials at the provider.
export { SessionRevocations } from './lib/revocation/session-revocations.js';
export {
  REVOCATION_GIVE_UP_MS,
  RevocationService,
  TokenRevokedError,
  type RevocationReason,
} from './lib/revocation/revocation.service.js';
export { revokeHeldTokens, type HeldTokens } from './lib/revocation/held-tokens.js';

// Auth: the OIDC client, roles, the identity-provider admin port.
export { AuthService, type VerifiedAccessToken } from './lib/auth/auth.service.js';
export type { AccessTokenClaims } from './lib/auth/auth.service.js';
export { requireAuthSettings } from './lib/auth/auth.settings.js';
export { isRole, roleAtLeast, ROLES } from './lib/auth/auth.constants.js';
export type { Role } from './lib/auth/auth.constants.js';
export {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  IdentityProviderAdminUnsupportedError,
  InvalidAccessTokenError,
} from './lib/auth/auth.errors.js';
export {
  IdentityProviderAdmin,
  NoIdentityProviderAdmin,
} from './lib/auth/identity-provider-admin.js';
export { DevAuthServerAdmin } from './lib/auth/dev-auth-server-admin.js';

// Metrics and log redaction.
export { BodhiMetrics } from './lib/metrics/bodhi-metrics.js';
export { MetricsModule } from './lib/metrics/metrics.module.js';
export {
  REDACTED,
  redactJwts,
  redactSecrets,
  redactUrlPasswords,
  type UserinfoSyntax,
} from './lib/util/redact.util.js';
