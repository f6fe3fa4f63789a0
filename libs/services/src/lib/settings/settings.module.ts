import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, registerAs } from '@nestjs/config';
import { Env, parseSettings } from './setting.schema.js';
import { SettingService } from './setting.service.js';
import { BODHI_SETTINGS, BODHI_SETTINGS_NAMESPACE } from './setting.tokens.js';

export interface SettingsModuleOptions {
  /**
   * Where settings come from. Default: `process.env`. An embedder passes its own object so
   * two servers in one process can run with different settings.
   */
  env?: Env;
}

/**
 * Validates BODHI_* settings through @nestjs/config at bootstrap (an invalid value stops
 * boot with `InvalidSettingsError`) and provides `SettingService` to the whole app.
 */
@Module({})
export class SettingsModule {
  static forRoot(options: SettingsModuleOptions = {}): DynamicModule {
    const settingsConfig = registerAs(BODHI_SETTINGS_NAMESPACE, () =>
      parseSettings(options.env ?? process.env),
    );
    return {
      module: SettingsModule,
      global: true,
      imports: [ConfigModule.forFeature(settingsConfig)],
      providers: [{ provide: BODHI_SETTINGS, useExisting: settingsConfig.KEY }, SettingService],
      exports: [SettingService, BODHI_SETTINGS],
    };
  }
}
