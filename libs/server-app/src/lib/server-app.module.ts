import {
  DynamicModule,
  MiddlewareConsumer,
  Module,
  NestModule,
  RequestMethod,
} from '@nestjs/common';
import { AppServicesModule, AppServicesOptions } from '@bodhi/app-service-builder';
import { AuthContextMiddleware, SameOriginMiddleware } from '@bodhi/auth-middleware';
import {
  API_PREFIX,
  LOGOUT_PATH,
  PROBE_PATHS,
  RoutesAppModule,
  UI_CALLBACK_PATH,
  UI_HOME_PATH,
  UI_LOGIN_PATH,
  UI_SESSIONS_PATH,
} from '@bodhi/routes-app';
import express from 'express';
import type { Store } from 'express-session';
import { AllowedHostMiddleware } from './allowed-host.middleware.js';
import { MetricsEndpoint } from './metrics.endpoint.js';
import { MetricsMiddleware } from './metrics.middleware.js';
import { MetricsServer } from './metrics.server.js';
import { noStore, pageSecurityPolicy } from './security-headers.js';
import { SESSION_STORE_OVERRIDE, SessionMiddleware } from './session.middleware.js';
import { UiController } from './ui.controller.js';
import { CALLBACK_PAGE, HOME_PAGE, LOGIN_PAGE, SESSIONS_PAGE } from './ui.pages.js';

/** Each UI page's path and text: its CSP allows exactly its own script and style. */
const UI_PAGES: [string, string][] = [
  [UI_LOGIN_PATH, LOGIN_PAGE],
  [UI_CALLBACK_PATH, CALLBACK_PAGE],
  [UI_HOME_PATH, HOME_PAGE],
  [UI_SESSIONS_PATH, SESSIONS_PAGE],
];

/**
 * Request bodies: JSON only (the callback page and the role route post JSON; no route reads a
 * form), up to body-parser's 100 kB. Here in the chain rather than Nest's own parsers, which
 * run before every middleware: a refused request is never read. A malformed or oversized body
 * reaches the error filter as 400 or 413 in the one error shape.
 */
const parseJsonBody = express.json();

export interface ServerAppOptions extends AppServicesOptions {
  /** The app's logging (loggingModule, built by createBodhiApp); none: Nest's own logger. */
  logging?: DynamicModule;
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
    const { sessionStore, logging, ...services } = options;
    return {
      module: ServerAppModule,
      imports: [
        ...(logging ? [logging] : []),
        AppServicesModule.forRoot(services),
        RoutesAppModule,
      ],
      controllers: [UiController],
      providers: [
        MetricsEndpoint,
        MetricsServer,
        ...(sessionStore ? [{ provide: SESSION_STORE_OVERRIDE, useValue: sessionStore }] : []),
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    // Order matters, and this is all of it. Security headers (security-headers.ts) come
    // first, set by the app factory before every route, so every answer carries them; then
    // the request id and request line (loggingModule's middleware: global, so before these);
    // then no-store on API answers, so refusals carry it too; then a request naming another host
    // (DNS rebinding) is refused, then a cross-origin write: both before the body is read
    // and before the session is loaded, so they create and change none. Then the body is
    // parsed, the session loaded, a page's CSP set, and, for API routes but logout (which
    // ends whatever session it names, and must not wait on the provider), the caller
    // identified (and tokens refreshed).
    // Liveness and health never load a session: they must answer while the store is down.
    // Nor do they check the Host: load balancers and kubelets probe by IP address, and
    // neither answer says anything of a user or a session (health names the backend).
    // A scrape is answered before all of it (MetricsMiddleware), under rules of its own.
    consumer.apply(MetricsMiddleware).forRoutes({ path: 'metrics', method: RequestMethod.ALL });
    consumer.apply(noStore).forRoutes(`${API_PREFIX}/*path`);
    // '*path' leaves out '/' (its redirect): the Host check covers it too.
    consumer
      .apply(AllowedHostMiddleware)
      .exclude(...PROBE_PATHS)
      .forRoutes({ path: '/', method: RequestMethod.ALL }, '*path');
    consumer
      .apply(SameOriginMiddleware, parseJsonBody, SessionMiddleware)
      .exclude(...PROBE_PATHS)
      .forRoutes('*path');
    for (const [path, html] of UI_PAGES) {
      consumer.apply(pageSecurityPolicy(html)).forRoutes({ path, method: RequestMethod.GET });
    }
    consumer
      .apply(AuthContextMiddleware)
      .exclude(...PROBE_PATHS, { path: LOGOUT_PATH, method: RequestMethod.POST })
      .forRoutes(`${API_PREFIX}/*path`);
  }
}
