import { DynamicModule, Module } from '@nestjs/common';
import {
  AuthService,
  DevAuthServerAdmin,
  IdentityProviderAdmin,
  MetricsModule,
  NoIdentityProviderAdmin,
  RevocationService,
  SessionModule,
  sessionOptionsFromSettings,
  SettingService,
  SettingsModule,
  SettingsModuleOptions,
} from '@bodhi/services';

/**
 * Where the settings come from: `env` (default `process.env`; embedders pass their own to
 * isolate servers), or `settings` already parsed by the caller.
 */
export type AppServicesOptions = SettingsModuleOptions;

/**
 * The one place the server's services are built from configuration: validated settings,
 * the session store whose backend `BODHI_SESSION_DB_URL` picks, the OpenID Connect
 * client of the identity provider (`BODHI_AUTH_*`) and the adapter of its admin API.
 * Global, so every layer above injects `SettingService`, `DefaultSessionService`,
 * `AuthService`, `IdentityProviderAdmin`, `RevocationService` and `BodhiMetrics` without
 * re-importing.
 */
@Module({})
export class AppServicesModule {
  static forRoot(options: AppServicesOptions = {}): DynamicModule {
    return {
      module: AppServicesModule,
      global: true,
      imports: [
        SettingsModule.forRoot(options),
        MetricsModule,
        SessionModule.forRootAsync({
          useFactory: sessionOptionsFromSettings,
          inject: [SettingService],
          isGlobal: true,
        }),
      ],
      providers: [
        AuthService,
        // BODHI_AUTH_ADMIN_API picks the adapter; one for Keycloak's admin REST API is added
        // here, and nothing above changes.
        {
          provide: IdentityProviderAdmin,
          useFactory: (settings: SettingService, auth: AuthService) =>
            settings.auth.adminApi === 'dev-auth-server'
              ? new DevAuthServerAdmin(auth)
              : new NoIdentityProviderAdmin(),
          inject: [SettingService, AuthService],
        },
        RevocationService,
      ],
      exports: [
        SettingsModule,
        MetricsModule,
        SessionModule,
        AuthService,
        IdentityProviderAdmin,
        RevocationService,
      ],
    };
  }
}
