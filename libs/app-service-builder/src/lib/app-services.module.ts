import { DynamicModule, Module } from '@nestjs/common';
import {
  AuthService,
  DevAuthServerAdmin,
  Env,
  IdentityProviderAdmin,
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
 * the session store whose backend `BODHI_SESSION_DB_URL` picks, the OpenID Connect
 * client of the identity provider (`BODHI_AUTH_*`) and the adapter of its admin API.
 * Global, so every layer above injects `SettingService`, `DefaultSessionService`,
 * `AuthService` and `IdentityProviderAdmin` without re-importing.
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
      providers: [
        AuthService,
        // The development provider's admin API is the only adapter so far; one for Keycloak's
        // admin REST API is bound here instead, and nothing above changes.
        { provide: IdentityProviderAdmin, useClass: DevAuthServerAdmin },
      ],
      exports: [SettingsModule, SessionModule, AuthService, IdentityProviderAdmin],
    };
  }
}
