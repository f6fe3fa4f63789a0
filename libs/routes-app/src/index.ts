export { RoutesAppModule } from './lib/routes-app.module.js';
export {
  API_PREFIX,
  LOGOUT_PATH,
  PROBE_PATHS,
  UI_CALLBACK_PATH,
  UI_HOME_PATH,
  UI_LOGIN_PATH,
  UI_SESSIONS_PATH,
} from './lib/routes.constants.js';
export type { AuthCallbackBody } from './lib/auth.controller.js';
export type { UserInfo } from './lib/user.controller.js';
export type { SessionsEnded, SessionView } from './lib/sessions.controller.js';
