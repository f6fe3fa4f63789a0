export { AppServicesModule } from './lib/app-services.module.js';
export type { AppServicesOptions } from './lib/app-services.module.js';
