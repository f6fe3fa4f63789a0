import { Inject, Injectable, NestMiddleware, Optional } from '@nestjs/common';
import { DefaultSessionService } from '@bodhi/services';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Store } from 'express-session';

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
    this.handler = sessions.sessionMiddleware(store);
  }

  use(req: Request, res: Response, next: NextFunction): void {
    this.handler(req, res, next);
  }
}
