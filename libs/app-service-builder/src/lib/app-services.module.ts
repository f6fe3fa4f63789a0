import { DynamicModule, Module } from '@nestjs/common';
import {
  AuthService,
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
 * the session store whose backend `BODHI_SESSION_DB_URL` picks, and the OpenID Connect
 * client of the identity provider (`BODHI_AUTH_*`). Global, so every layer
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
      providers: [AuthService],
      exports: [SettingsModule, SessionModule, AuthService],
    };
  }
}
