import { Inject, Injectable, NestMiddleware, Optional } from '@nestjs/common';
import { DefaultSessionService } from '@bodhi/services';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import session, { Store } from 'express-session';

/** A store replacing the configured one in the session middleware (`ServerAppOptions.sessionStore`). */
export const SESSION_STORE_OVERRIDE = Symbol('SESSION_STORE_OVERRIDE');

/** express-session over the configured store, as a Nest middleware. */
@Injectable()
export class SessionMiddleware implements NestMiddleware {
  private readonly handler: RequestHandler;

  constructor(
    sessions: DefaultSessionService,
    @Optional() @Inject(SESSION_STORE_OVERRIDE) store?: Store,
  ) {
    // The same cookie and session rules, over the given store (a benchmark's MemoryStore).
    this.handler = store
      ? session({ ...sessions.sessionOptions(), store })
      : sessions.sessionMiddleware();
  }

  use(req: Request, res: Response, next: NextFunction): void {
    this.handler(req, res, next);
  }
}
