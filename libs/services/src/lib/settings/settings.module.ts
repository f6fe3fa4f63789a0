import { DynamicModule, Module } from '@nestjs/common';
import { BodhiSettings, parseSettings } from './setting.schema.js';
import type { Env } from './setting.section.js';
import { SettingService } from './setting.service.js';
import { BODHI_SETTINGS } from './setting.tokens.js';

export interface SettingsModuleOptions {
  /**
   * Where settings come from. Default: `process.env`. An embedder passes its own object so
   * two servers in one process can run with different settings.
   */
  env?: Env;
  /** Settings already parsed (the app factory parses once per boot); overrides `env`. */
  settings?: BodhiSettings;
}

/**
 * Provides the validated BODHI_* settings and `SettingService` to the whole app. Parsing
 * happens while the module is built, so an invalid value stops boot with
 * `InvalidSettingsError`. (Not @nestjs/config: its ConfigModule validates process.env and
 * .env files, while each embedded server here is configured by the env object it is given.)
 */
@Module({})
export class SettingsModule {
  static forRoot(options: SettingsModuleOptions = {}): DynamicModule {
    return {
      module: SettingsModule,
      global: true,
      providers: [
        {
          provide: BODHI_SETTINGS,
          useFactory: () => options.settings ?? parseSettings(options.env ?? process.env),
        },
        SettingService,
      ],
      exports: [SettingService, BODHI_SETTINGS],
    };
  }
}
