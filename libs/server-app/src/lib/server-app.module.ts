import {
  DynamicModule,
  MiddlewareConsumer,
  Module,
  NestModule,
  RequestMethod,
} from '@nestjs/common';
import { AppServicesModule, AppServicesOptions } from '@bodhi/app-service-builder';
import {
  AllowedHostMiddleware,
  AuthContextMiddleware,
  SameOriginMiddleware,
} from '@bodhi/auth-middleware';
import {
  API_PREFIX,
  RoutesAppModule,
  UI_CALLBACK_PATH,
  UI_HOME_PATH,
  UI_LOGIN_PATH,
} from '@bodhi/routes-app';
import type { Store } from 'express-session';
import { noStore, pageSecurityPolicy } from './security-headers.js';
import { SESSION_STORE_OVERRIDE, SessionMiddleware } from './session.middleware.js';
import { UiController } from './ui.controller.js';
import { CALLBACK_PAGE, HOME_PAGE, LOGIN_PAGE } from './ui.pages.js';

/** Each UI page's path and text: its CSP allows exactly its own script and style. */
const UI_PAGES: [string, string][] = [
  [UI_LOGIN_PATH, LOGIN_PAGE],
  [UI_CALLBACK_PATH, CALLBACK_PAGE],
  [UI_HOME_PATH, HOME_PAGE],
];

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
    // Order matters: a request naming another host (DNS rebinding) is refused first, then
    // cross-origin writes, both before the session is loaded (so they create and change
    // none); then the session is loaded, then the caller is identified (and tokens
    // refreshed) for API routes. Security headers (security-headers.ts) are set before all
    // of it, by the app factory, so refusals carry them too.
    // Liveness and health never load a session: they must answer while the store is down.
    // Nor do they check the Host: load balancers and kubelets probe by IP address, and
    // neither answer says anything of a user or a session (health names the backend).
    const probes = [`${API_PREFIX}/ping`, `${API_PREFIX}/health`];
    consumer.apply(noStore).forRoutes(`${API_PREFIX}/*path`);
    // '*path' leaves out '/' (its redirect): the Host check covers it too.
    consumer
      .apply(AllowedHostMiddleware)
      .exclude(...probes)
      .forRoutes({ path: '/', method: RequestMethod.ALL }, '*path');
    consumer
      .apply(SameOriginMiddleware, SessionMiddleware)
      .exclude(...probes)
      .forRoutes('*path');
    for (const [path, html] of UI_PAGES) {
      consumer.apply(pageSecurityPolicy(html)).forRoutes({ path, method: RequestMethod.GET });
    }
    consumer
      .apply(AuthContextMiddleware)
      .exclude(...probes)
      .forRoutes(`${API_PREFIX}/*path`);
  }
}
