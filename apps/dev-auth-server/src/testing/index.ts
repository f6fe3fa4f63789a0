// What other projects' tests use of the provider (`@bodhi/dev-auth-server/testing`): start it
// in-process, and drive its login form.
export { createDevAuthServer, type DevAuthServer } from '../dev-auth-server.js';
export {
  CookieJar,
  LoginFailedError,
  buildAuthorizationUrl,
  createPkcePair,
  loginThroughForm,
  type LoginThroughFormOptions,
} from './code-flow.js';
