import { Injectable, NestMiddleware } from '@nestjs/common';
import { DefaultSessionService } from '@bodhi/services';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** express-session over the configured store, as a Nest middleware. */
@Injectable()
export class SessionMiddleware implements NestMiddleware {
  private readonly handler: RequestHandler;

  constructor(sessions: DefaultSessionService) {
    this.handler = sessions.sessionMiddleware();
  }

  use(req: Request, res: Response, next: NextFunction): void {
    this.handler(req, res, next);
  }
}
