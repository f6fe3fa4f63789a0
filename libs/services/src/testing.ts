// `@bodhi/services/testing`: what the test kit (@bodhi/testing), specs and the benchmark reach
// below the public surface for — building a store without Nest, the cache and its channel, lock
// keys to look for in pg_locks, the settings' defaults a test asserts against. Production code
// of the other layers never imports it (eslint.config.mjs; scripts/check-layer-boundaries.mjs).

// Settings: the schema's variable list and defaults that specs and the benchmark assert against.
export {
  DEFAULT_AUTH_RATE_LIMIT,
  DEFAULT_SESSION_LOGIN_TTL_SECONDS,
  DEFAULT_SESSION_TTL_SECONDS,
  type SessionDbStatementMode,
} from './lib/settings/setting.constants.js';
export { BODHI_SETTING_VARIABLES } from './lib/settings/setting.schema.js';

// The session store without Nest: options, DataSource, store, revocations, cache.
export { resolveSessionOptions } from './lib/session/config/session.options.js';
export type {
  ResolvedSessionOptions,
  SessionModuleOptions,
} from './lib/session/config/session.options.js';
export { SESSION_DATA_SOURCE } from './lib/session/session.constants.js';
export {
  createSessionDataSource,
  createSessionRevocations,
  createSessionStore,
  startSessionCache,
  type SessionCacheRuntime,
} from './lib/session/store/session-data-source.factory.js';
export { SessionStoreBackend } from './lib/session/store/session-store.backend.js';
export { pgSessionKey } from './lib/session/dialects/postgres/pg-session-key.js';
export { parseEncryptionKeys, SessionCipher } from './lib/session/crypto/session-cipher.js';
export {
  invalidationChannel,
  listenerApplicationName,
} from './lib/session/cluster/channel-messages.js';

// Locks and their keys, as they show in pg_locks.
export { SessionLock, sessionLockKey } from './lib/session/locks/session-lock.js';
export {
  migrationLockKey,
  pruneLockKey,
  type AdvisoryLockKey,
} from './lib/session/locks/lock-keys.js';
export { advisoryLockRowsQuery } from './lib/session/dialects/postgres/transaction-lock.js';
