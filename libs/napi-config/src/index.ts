export * from './lib/config.constants.js';
export {
  createAppOptions,
  resolveEnv,
  setAppSetting,
  setClientCredentials,
  setEnvVar,
  setSystemSetting,
} from './lib/app-options.js';
export type { AppOptions } from './lib/app-options.js';
export { BodhiServer } from './lib/bodhi-server.js';
export type { BodhiServerOptions } from './lib/bodhi-server.js';
