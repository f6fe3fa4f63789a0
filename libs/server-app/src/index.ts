export { ServerAppModule } from './lib/server-app.module.js';
export type { ServerAppOptions } from './lib/server-app.module.js';
export { createBodhiApp, startBodhiServer } from './lib/server-app.factory.js';
export type { BodhiAppOptions, RunningBodhiServer } from './lib/server-app.factory.js';
export { MetricsServer } from './lib/metrics.server.js';
export { bootLogger } from './lib/logging.js';
export { announceListening, SERVER_LISTENING } from './lib/listening.js';
export type { ServerListening } from './lib/listening.js';
