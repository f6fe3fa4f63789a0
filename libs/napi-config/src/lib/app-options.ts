import { BODHI_AUTH_CLIENT_ID, BODHI_AUTH_CLIENT_SECRET } from '@bodhi/services';

/**
 * Everything an embedder configures, by kind (as BodhiApp's native bindings group them).
 * All of it becomes the server's settings, over `process.env`, in this order of precedence
 * (later wins): process.env < envVars < systemSettings < appSettings < client credentials.
 */
export interface AppOptions {
  readonly envVars: Readonly<Record<string, string>>;
  /** Settings of the installation: BODHI_HOME, BODHI_ENV_TYPE, BODHI_AUTH_URL, … */
  readonly systemSettings: Readonly<Record<string, string>>;
  /** Settings a user may change: BODHI_PORT, BODHI_LOG_LEVEL, … */
  readonly appSettings: Readonly<Record<string, string>>;
  readonly clientId?: string;
  readonly clientSecret?: string;
}

export function createAppOptions(): AppOptions {
  return { envVars: {}, systemSettings: {}, appSettings: {} };
}

/** Each setter returns a new options object; the one passed in is left as it was. */
export function setEnvVar(options: AppOptions, key: string, value: string): AppOptions {
  return { ...options, envVars: { ...options.envVars, [key]: value } };
}

export function setSystemSetting(options: AppOptions, key: string, value: string): AppOptions {
  return { ...options, systemSettings: { ...options.systemSettings, [key]: value } };
}

export function setAppSetting(options: AppOptions, key: string, value: string): AppOptions {
  return { ...options, appSettings: { ...options.appSettings, [key]: value } };
}

export function setClientCredentials(
  options: AppOptions,
  clientId: string,
  clientSecret: string,
): AppOptions {
  return { ...options, clientId, clientSecret };
}

/** The settings the server runs with: `base` (default process.env) under the options. */
export function resolveEnv(
  options: AppOptions,
  base: Record<string, string | undefined> = process.env,
): Record<string, string | undefined> {
  return {
    ...base,
    ...options.envVars,
    ...options.systemSettings,
    ...options.appSettings,
    ...(options.clientId === undefined ? {} : { [BODHI_AUTH_CLIENT_ID]: options.clientId }),
    ...(options.clientSecret === undefined
      ? {}
      : { [BODHI_AUTH_CLIENT_SECRET]: options.clientSecret }),
  };
}
