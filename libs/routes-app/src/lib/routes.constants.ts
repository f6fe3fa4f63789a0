/** Every API route lives under this prefix. */
export const API_PREFIX = 'bodhi/v1';
/** UI pages the API points browsers at. */
export const UI_LOGIN_PATH = '/ui/login';
export const UI_HOME_PATH = '/ui/home';
export const UI_CALLBACK_PATH = '/ui/auth/callback';
export const UI_SESSIONS_PATH = '/ui/sessions';
