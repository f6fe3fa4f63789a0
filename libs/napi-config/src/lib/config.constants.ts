/**
 * Configuration names an embedder sets, re-exported from the one place SettingService reads
 * them, so each is the string the server validates. The list itself is checked against the
 * settings schema (config.constants.spec.ts): a setting missing here fails the tests.
 */
export {
  BODHI_AUTH_ADMIN_API,
  BODHI_AUTH_CLIENT_ID,
  BODHI_AUTH_CLIENT_SECRET,
  BODHI_AUTH_TOKEN_ALGORITHMS,
  BODHI_AUTH_URL,
  BODHI_DEPLOYMENT,
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
} from '@bodhi/services';
