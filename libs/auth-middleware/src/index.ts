export { ApiError } from './lib/api-error.js';
export type { ApiErrorBody, ApiErrorDetails, ApiErrorType } from './lib/api-error.js';
export { ApiErrorFilter } from './lib/api-error.filter.js';
export { AUTH_SESSION_KEYS, OAUTH_SESSION_KEYS } from './lib/auth-context.js';
export type { AuthContext } from './lib/auth-context.js';
export { AuthContextMiddleware } from './lib/auth-context.middleware.js';
export { SameOriginMiddleware } from './lib/same-origin.middleware.js';
export {
  Authenticated,
  AuthenticatedGuard,
  CurrentAuth,
  RequireRole,
  RoleGuard,
} from './lib/auth.guards.js';
export {
  clearLogin,
  destroySession,
  dropSession,
  renewSessionId,
  saveSession,
} from './lib/session.util.js';
