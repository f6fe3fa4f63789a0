export * from './lib/settings/setting.constants.js';
export { BODHI_SETTING_VARIABLES, parseSettings } from './lib/settings/setting.schema.js';
export type { BodhiSettings, SessionSettings } from './lib/settings/setting.schema.js';
export { isWildcardAddress } from './lib/settings/server.settings.js';
export type { ServerSettings } from './lib/settings/server.settings.js';
export type { Env } from './lib/settings/setting.section.js';
export { InvalidSettingsError } from './lib/settings/config-issue.js';
export type { ConfigIssue } from './lib/settings/config-issue.js';
export { SettingService } from './lib/settings/setting.service.js';
export { requireAuthSettings } from './lib/auth/auth.settings.js';
export type { AuthSettings } from './lib/auth/auth.settings.js';
export { SettingsModule } from './lib/settings/settings.module.js';
export type { SettingsModuleOptions } from './lib/settings/settings.module.js';
export { BODHI_SETTINGS } from './lib/settings/setting.tokens.js';

export { SessionModule } from './lib/session/session.module.js';
export { SESSION_MODULE_OPTIONS } from './lib/session/config/session.module-definition.js';
export {
  InvalidSessionOptionsError,
  resolveSessionOptions,
} from './lib/session/config/session.options.js';
export type {
  ResolvedSessionOptions,
  SessionModuleOptions,
} from './lib/session/config/session.options.js';
export { sessionOptionsFromSettings } from './lib/session/config/session-options.from-settings.js';
export { DefaultSessionService } from './lib/session/session.service.js';
export { recordSessionDevice } from './lib/session/store/session-device.js';
export type { ClientAddressMode, SessionSummary } from './lib/session/store/session-device.js';
export { SessionStoreBackend, userNotBefore } from './lib/session/store/session-store.backend.js';
export { pgSessionKey, sessionKey, sessionRef } from './lib/session/store/session-key.js';
export { SessionRevocations } from './lib/revocation/session-revocations.js';
export type {
  PendingRevocation,
  PendingRevocationKind,
  TokenRevocationState,
} from './lib/revocation/session-revocations.js';
export {
  REVOCATION_GIVE_UP_MS,
  RevocationService,
  TokenRevokedError,
  type RevocationReason,
} from './lib/revocation/revocation.service.js';
export { SessionPruner } from './lib/session/store/session.pruner.js';
export {
  SessionLock,
  SessionLockTimeoutError,
  sessionLockKey,
} from './lib/session/locks/session-lock.js';
export {
  migrationLockKey,
  pruneLockKey,
  type AdvisoryLockKey,
} from './lib/session/locks/lock-keys.js';
export { advisoryLockRowsQuery } from './lib/session/dialects/postgres/transaction-lock.js';
export {
  InvalidEncryptionKeyError,
  parseEncryptionKeys,
  SessionCipher,
  SessionDecryptError,
} from './lib/session/crypto/session-cipher.js';
export {
  InvalidSessionInputError,
  SessionStoreUnavailableError,
  SessionTooLargeError,
} from './lib/session/session.errors.js';
export type { SessionStoreConfig } from './lib/session/store/session-store.backend.js';
export {
  InjectSessionDataSource,
  SESSION_CACHE,
  SESSION_COOKIE_NAME,
  SESSION_DATA_SOURCE,
} from './lib/session/session.constants.js';
export {
  createSessionDataSource,
  createSessionRevocations,
  createSessionStore,
  SessionDataSource,
  SessionDbUnavailableError,
  startSessionCache,
  type SessionCacheRuntime,
} from './lib/session/store/session-data-source.factory.js';
export {
  SESSION_CACHE_MAX_AGE_MS,
  SESSION_CACHE_MAX_CHARS,
  SessionCache,
} from './lib/session/cache/session-cache.js';
export {
  LISTENER_HEALTH_INTERVAL_MS,
  LISTENER_PROBE_TIMEOUT_MS,
  SessionInvalidationListener,
} from './lib/session/cluster/session-invalidation.listener.js';
export {
  invalidationChannel,
  listenerApplicationName,
  invalidationPayload,
  parseInvalidation,
  userKey,
  type Invalidation,
} from './lib/session/cluster/session-invalidation.js';
export {
  describeSessionDb,
  InvalidSessionDbUrlError,
  parseSessionDbUrl,
} from './lib/session/config/session-db-url.util.js';
export type { SessionDbKind, SessionDbTarget } from './lib/session/config/session-db-url.util.js';
export {
  REDACTED,
  redactJwts,
  redactSecrets,
  redactUrlPasswords,
  type UserinfoSyntax,
} from './lib/util/redact.util.js';

export { AuthService } from './lib/auth/auth.service.js';
export type {
  AccessTokenClaims,
  AuthorizationRequest,
  TokenSet,
  VerifiedAccessToken,
} from './lib/auth/auth.service.js';
export {
  ACCESS_TOKEN_ALGORITHMS,
  isRole,
  LOGIN_SCOPES,
  roleAtLeast,
  ROLES,
} from './lib/auth/auth.constants.js';
export type { AccessTokenAlgorithm, Role } from './lib/auth/auth.constants.js';
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

export { BodhiMetrics } from './lib/metrics/bodhi-metrics.js';
export { MetricsModule } from './lib/metrics/metrics.module.js';
export type { PoolCounts } from './lib/metrics/bodhi-metrics.js';
