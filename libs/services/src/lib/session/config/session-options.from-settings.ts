import type { SettingService } from '../../settings/setting.service.js';
import type { SessionModuleOptions } from './session.options.js';

/**
 * Session options as the server configures them: the validated session section (already
 * the options' shape), its secret and encryption keys (generated standalone when unset),
 * and a Secure cookie behind an https public origin.
 */
export function sessionOptionsFromSettings(settings: SettingService): SessionModuleOptions {
  return {
    ...settings.session,
    secret: settings.sessionSecret(),
    encryptionKeys: settings.sessionEncryptionKeys(),
    secureCookie: settings.server.publicScheme === 'https',
  };
}
