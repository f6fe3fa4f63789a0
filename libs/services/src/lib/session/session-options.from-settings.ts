import type { SettingService } from '../settings/setting.service.js';
import type { SessionModuleOptions } from './session.options.js';

/** Session options as the server configures them: everything from validated settings. */
export function sessionOptionsFromSettings(settings: SettingService): SessionModuleOptions {
  return {
    url: settings.sessionDbUrl(),
    secret: settings.sessionSecret(),
    tableName: settings.sessionTable(),
    schema: settings.sessionSchema(),
    ttlSeconds: settings.sessionTtlSeconds(),
    pruneIntervalSeconds: settings.sessionPruneIntervalSeconds(),
    touchAfterSeconds: settings.sessionTouchAfterSeconds(),
    secureCookie: settings.publicScheme() === 'https',
    encryptionKeys: settings.sessionEncryptionKeys(),
    maxDataBytes: settings.sessionMaxBytes(),
  };
}
