import { DynamicModule, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { AppServicesModule, AppServicesOptions } from '@bodhi/app-service-builder';
import { AuthContextMiddleware, SameOriginMiddleware } from '@bodhi/auth-middleware';
import { API_PREFIX, RoutesAppModule } from '@bodhi/routes-app';
import type { Store } from 'express-session';
import { SESSION_STORE_OVERRIDE, SessionMiddleware } from './session.middleware.js';
import { UiController } from './ui.controller.js';

export interface ServerAppOptions extends AppServicesOptions {
  /**
   * An express-session store the session middleware uses instead of the configured one
   * (which still opens, migrates and serves everything else). For benchmarks: `MemoryStore`
   * as the upper bound. Not for production.
   */
  sessionStore?: Store;
}

/** The whole server: services, API routes, UI pages, and the middleware chain. */
@Module({})
export class ServerAppModule implements NestModule {
  static forRoot(options: ServerAppOptions = {}): DynamicModule {
    const { sessionStore, ...services } = options;
    return {
      module: ServerAppModule,
      imports: [AppServicesModule.forRoot(services), RoutesAppModule],
      controllers: [UiController],
      providers: sessionStore ? [{ provide: SESSION_STORE_OVERRIDE, useValue: sessionStore }] : [],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    // Order matters: cross-origin writes are refused before the session is loaded (so they
    // create and change none), then the session is loaded, then the caller is identified
    // (and tokens refreshed) for API routes.
    // Liveness and health never load a session: they must answer while the store is down.
    const probes = [`${API_PREFIX}/ping`, `${API_PREFIX}/health`];
    consumer
      .apply(SameOriginMiddleware, SessionMiddleware)
      .exclude(...probes)
      .forRoutes('*path');
    consumer
      .apply(AuthContextMiddleware)
      .exclude(...probes)
      .forRoutes(`${API_PREFIX}/*path`);
  }
}
