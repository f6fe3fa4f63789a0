// Public API of the development OpenID Connect provider: start it in-process, configure it,
// and drive its login form from tests.
export { createDevAuthServer, type DevAuthServer } from './dev-auth-server.js';
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
export {
  CookieJar,
  LoginFailedError,
  buildAuthorizationUrl,
  createPkcePair,
  loginThroughForm,
  type LoginThroughFormOptions,
} from './testing/code-flow.js';
