import { DynamicModule, Module } from '@nestjs/common';
import {
  Env,
  SessionModule,
  sessionOptionsFromSettings,
  SettingService,
  SettingsModule,
} from '@bodhi/services';

export interface AppServicesOptions {
  /** Settings source; default `process.env`. Embedders pass their own to isolate servers. */
  env?: Env;
}

/**
 * The one place the server's services are built from configuration: validated settings,
 * and the session store whose backend `BODHI_SESSION_DB_URL` picks. Global, so every layer
 * above injects `SettingService` and `DefaultSessionService` without re-importing.
 */
@Module({})
export class AppServicesModule {
  static forRoot(options: AppServicesOptions = {}): DynamicModule {
    return {
      module: AppServicesModule,
      global: true,
      imports: [
        SettingsModule.forRoot({ env: options.env }),
        SessionModule.forRootAsync({
          useFactory: sessionOptionsFromSettings,
          inject: [SettingService],
          isGlobal: true,
        }),
      ],
      exports: [SettingsModule, SessionModule],
    };
  }
}
