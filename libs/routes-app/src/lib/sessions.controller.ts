import { Controller, Delete, Get, HttpStatus, Param, Query, Req, Res } from '@nestjs/common';
import type { SessionData } from 'express-session';
import {
  DefaultSessionService,
  revokeHeldTokens,
  RevocationService,
  type RevocationReason,
  sessionKey,
  type SessionSummary,
} from '@bodhi/services';
import {
  ApiError,
  Authenticated,
  CurrentAuth,
  dropSession,
  RequireRole,
} from '@bodhi/auth-middleware';
import type { AuthContext } from '@bodhi/auth-middleware';
import type { Request, Response } from 'express';
import { API_PREFIX } from './routes.constants.js';

/** One session as its owner (or an admin) sees it: named by its handle, never its id. */
export interface SessionView {
  /** The public handle: the SHA-256 of the session id, as the table keys the row. */
  id: string;
  created_at: string | null;
  last_seen_at: string | null;
  expires_at: string;
  max_expires_at: string | null;
  ip: string | null;
  user_agent: string | null;
  browser: string | null;
  os: string | null;
  /** The session this request came with. */
  current: boolean;
}

/** How many sessions a DELETE ended. */
export interface SessionsEnded {
  ended: number;
}

/** What a handle looks like: a session key, 64 lowercase hex digits. */
const HANDLE = /^[0-9a-f]{64}$/;

/**
 * Every pattern this module applies to a request's path: a spec runs a ReDoS checker over
 * them, so a pattern added here must be added to this list.
 */
export const SESSION_HANDLE_PATTERNS: readonly RegExp[] = [HANDLE];

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

const sessionNotFound = () =>
  new ApiError(
    HttpStatus.NOT_FOUND,
    'not_found_error',
    'session_not_found',
    'No such session of this user',
  );

/**
 * The user whose own sessions the self routes work on: a logged-in browser session only. A
 * bearer token has no session to be "this device", and ending a user's other sessions is for
 * someone holding one of them (admins have the /users/:userId routes).
 */
function sessionUser(ctx: AuthContext): string {
  if (ctx.kind === 'session') return ctx.userId;
  throw ApiError.forbidden(
    'session_required',
    'Your sessions are listed and ended from a logged-in browser session, not with a token',
  );
}

/** The handle of the session this request came with. */
const currentHandle = (req: Request): string => sessionKey(req.sessionID);

/**
 * Where a user is logged in, and ending any of it: a user's own sessions under
 * /user/sessions, any user's for admins under /users/:userId/sessions. Ownership is part of
 * each statement (the service ends a handle only together with its user id), so another
 * user's handle, an unknown one and a malformed one are the same 404. Ending a session
 * removes its row, which every instance reads on the session's next request, then revokes
 * what it held as logout does. Writes are same-origin only (SameOriginMiddleware, globally).
 */
@Controller(API_PREFIX)
export class SessionsController {
  constructor(
    private readonly sessions: DefaultSessionService,
    private readonly revocation: RevocationService,
  ) {}

  @Get('user/sessions')
  @Authenticated()
  ownSessions(@CurrentAuth() ctx: AuthContext, @Req() req: Request): Promise<SessionView[]> {
    return this.list(sessionUser(ctx), req);
  }

  /**
   * Ends every session of the caller but this one. Only with `current=false` spelled out: a
   * bare DELETE of the collection would read as "log me out everywhere", which this is not.
   */
  @Delete('user/sessions')
  @Authenticated()
  async endOtherSessions(
    @CurrentAuth() ctx: AuthContext,
    @Query('current') current: unknown,
    @Req() req: Request,
  ): Promise<SessionsEnded> {
    const userId = sessionUser(ctx);
    if (current !== 'false') {
      throw ApiError.badRequest(
        'current_false_required',
        'Add current=false: this ends every session of yours but the current one',
      );
    }
    return this.ended(
      'other_sessions_ended',
      await this.sessions.endOtherUserSessions(userId, req.sessionID),
    );
  }

  /** Ends one of the caller's sessions; ending the current one logs the caller out. */
  @Delete('user/sessions/:id')
  @Authenticated()
  endOwnSession(
    @CurrentAuth() ctx: AuthContext,
    @Param('id') handle: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SessionsEnded> {
    return this.endOne('session_ended', sessionUser(ctx), handle, req, res);
  }

  @Get('users/:userId/sessions')
  @RequireRole('resource_admin')
  userSessions(@Param('userId') userId: string, @Req() req: Request): Promise<SessionView[]> {
    return this.list(userId, req);
  }

  /**
   * Ends every session of a user (the admin's own current one too, when it is theirs). Their
   * tokens are revoked as logout revokes them; a new login is not prevented (a role change is
   * what revokes a user).
   */
  @Delete('users/:userId/sessions')
  @RequireRole('resource_admin')
  async endUserSessions(
    @Param('userId') userId: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SessionsEnded> {
    const ended = await this.sessions.endOtherUserSessions(userId);
    if (ended.length > 0 && req.session?.user_id === userId) this.logOut(req, res);
    return this.ended('admin_revoke', ended);
  }

  @Delete('users/:userId/sessions/:id')
  @RequireRole('resource_admin')
  endUserSession(
    @Param('userId') userId: string,
    @Param('id') handle: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SessionsEnded> {
    return this.endOne('admin_revoke', userId, handle, req, res);
  }

  private async list(userId: string, req: Request): Promise<SessionView[]> {
    const current = currentHandle(req);
    const summaries = await this.sessions.listUserSessions(userId);
    return summaries.map((summary) => view(summary, summary.handle === current));
  }

  private async endOne(
    reason: RevocationReason,
    userId: string,
    handle: string,
    req: Request,
    res: Response,
  ): Promise<SessionsEnded> {
    // Checked before the store sees it: anything but a key's shape cannot name a session.
    if (!HANDLE.test(handle)) throw sessionNotFound();
    const ended = await this.sessions.endUserSession(userId, handle);
    if (!ended) throw sessionNotFound();
    if (handle === currentHandle(req)) this.logOut(req, res);
    return this.ended(reason, [ended]);
  }

  /** The request's own session has just been removed: answer as logout does. */
  private logOut(req: Request, res: Response): void {
    // express-session would otherwise touch the removed row and send its cookie again.
    dropSession(req);
    this.sessions.clearCookie(res);
  }

  private async ended(reason: RevocationReason, sessions: SessionData[]): Promise<SessionsEnded> {
    this.revocation.sessionsEnded(reason, sessions.length);
    await revokeHeldTokens(this.revocation, reason, sessions);
    return { ended: sessions.length };
  }
}

function view(summary: SessionSummary, current: boolean): SessionView {
  return {
    id: summary.handle,
    created_at: iso(summary.createdAt),
    last_seen_at: iso(summary.lastSeenAt),
    expires_at: new Date(summary.expiresAt).toISOString(),
    max_expires_at: iso(summary.maxExpiresAt),
    ip: summary.clientAddress,
    user_agent: summary.userAgent,
    browser: summary.browser,
    os: summary.os,
    current,
  };
}
