/** Every API route lives under this prefix. */
export const API_PREFIX = 'bodhi/v1';
/** Liveness and health: probed by load balancers and kubelets, without a session or a Host check. */
export const PROBE_PATHS = [`${API_PREFIX}/ping`, `${API_PREFIX}/health`];
/** UI pages the API points browsers at. */
export const UI_LOGIN_PATH = '/ui/login';
export const UI_HOME_PATH = '/ui/home';
export const UI_CALLBACK_PATH = '/ui/auth/callback';
export const UI_SESSIONS_PATH = '/ui/sessions';
