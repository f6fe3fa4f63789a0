export { AppServicesModule } from './lib/app-services.module.js';
export type { AppServicesOptions } from './lib/app-services.module.js';
export { AuthService } from './lib/auth/auth.service.js';
export type {
  AccessTokenClaims,
  AuthorizationRequest,
  TokenSet,
  VerifiedAccessToken,
} from './lib/auth/auth.service.js';
export { isRole, LOGIN_SCOPES, roleAtLeast, ROLES } from './lib/auth/auth.constants.js';
export type { Role } from './lib/auth/auth.constants.js';
export {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  InvalidAccessTokenError,
} from './lib/auth/auth.errors.js';
