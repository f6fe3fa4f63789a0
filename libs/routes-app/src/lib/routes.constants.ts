/** Every API route lives under this prefix. */
export const API_PREFIX = 'bodhi/v1';
/** Liveness and health: probed by load balancers and kubelets, without a session or a Host check. */
export const PROBE_PATHS = [`${API_PREFIX}/ping`, `${API_PREFIX}/health`];
/**
 * Logout ends whatever session its cookie names: it needs no caller identity, so no auth
 * context is resolved for it (and no expired token refreshed at the provider first).
 */
export const LOGOUT_ROUTE = 'logout';
export const LOGOUT_PATH = `${API_PREFIX}/${LOGOUT_ROUTE}`;
/** UI pages the API points browsers at. */
export const UI_LOGIN_PATH = '/ui/login';
export const UI_HOME_PATH = '/ui/home';
export const UI_CALLBACK_PATH = '/ui/auth/callback';
export const UI_SESSIONS_PATH = '/ui/sessions';
