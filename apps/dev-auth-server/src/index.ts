// Public API of the development OpenID Connect provider: start it in-process, configure it,
// and drive its login form from tests.
export {
  ConfigError,
  DEFAULT_CONFIG,
  DEFAULT_USERS_FILE,
  loadConfig,
  resolveIssuer,
  type DevAuthConfig,
} from './config.js';
export { ROLES, isRole, type DemoUser, type Role } from './users.js';
export { LOGIN_ERROR } from './interactions.js';
// createDevAuthServer and the login-form helpers, as `@bodhi/dev-auth-server/testing` has them.
export * from './testing/index.js';
