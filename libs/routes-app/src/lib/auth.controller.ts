import { Body, Controller, HttpCode, Logger, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { SessionData } from 'express-session';
import {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  AuthService,
  DefaultSessionService,
  InvalidAccessTokenError,
  recordSessionDevice,
  revokeHeldTokens,
  RevocationService,
  SettingService,
  type HeldTokens,
} from '@bodhi/services';
import {
  ApiError,
  CurrentAuth,
  destroySession,
  dropSession,
  renewSessionId,
  saveSession,
} from '@bodhi/auth-middleware';
import type { AuthContext } from '@bodhi/auth-middleware';
import type { Request, Response } from 'express';
import { AuthRateLimitGuard } from './auth-rate-limit.js';
import { LoginMetrics, LoginRoute } from './login-metrics.js';
import { providerErrorCode, providerErrorMessage } from './provider-errors.js';
import {
  API_PREFIX,
  LOGOUT_ROUTE,
  UI_CALLBACK_PATH,
  UI_HOME_PATH,
  UI_LOGIN_PATH,
} from './routes.constants.js';

/** Body of POST /auth/callback: the authorization response the callback page received. */
export interface AuthCallbackBody {
  code?: string;
  state?: string;
  iss?: string;
  error?: string;
  error_description?: string;
}

const stringField = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : undefined;

/** A login in progress, as initiate stored it in the session. */
interface LoginInProgress {
  state: string;
  pkceVerifier: string;
  callbackUrl: string;
}

const loginIn = (session: SessionData | null | undefined): LoginInProgress | undefined =>
  session?.oauth_state && session.pkce_verifier && session.callback_url
    ? {
        state: session.oauth_state,
        pkceVerifier: session.pkce_verifier,
        callbackUrl: session.callback_url,
      }
    : undefined;

const stateMismatch = () =>
  ApiError.badRequest('state_mismatch', 'The login state does not match; start the login again');

const noLoginInProgress = () =>
  ApiError.badRequest(
    'no_login_in_progress',
    'No login is in progress for this session; start again',
  );

/**
 * Takes the login that callback `state` answers out of the stored session (`stored`, edited
 * in place), or says why not. The state must match the stored login's before it is taken:
 * a callback of an older login (a later initiate replaced it) or an attacker's link with a
 * state of its own is refused and leaves the login in progress alone. What was taken is
 * recorded in its place, and the session (under its old id) outlives the login it began, so a
 * callback arriving after it says 409, as does one that loaded the login (`loaded`, read
 * before the lock) before a concurrent callback took it. That record is all the session keeps:
 * an initiate may have run on a logged-in session (a bearer call carrying its cookie), whose
 * user and tokens must not live on under the old id once the login moves to the new one.
 */
function takeLogin(
  stored: SessionData,
  loaded: SessionData,
  state: string | undefined,
): LoginInProgress {
  const login = loginIn(stored);
  if (login && login.state === state) {
    for (const key of Object.keys(stored) as (keyof SessionData)[]) {
      if (key !== 'cookie') delete stored[key];
    }
    stored.login_taken = login.state;
    return login;
  }
  if (login) throw stateMismatch();
  const loadedLogin = loginIn(loaded);
  if (state !== undefined && (stored.login_taken === state || loadedLogin?.state === state)) {
    throw ApiError.conflict(
      'login_already_completed',
      'This login was already used by another request; this one changed nothing',
    );
  }
  if (loadedLogin) throw stateMismatch();
  throw noLoginInProgress();
}

/** Login (authorization code + PKCE against the identity provider) and logout. */
@Controller(API_PREFIX)
export class AuthController {
  private readonly logger = new Logger(AuthController.name);

  constructor(
    private readonly auth: AuthService,
    private readonly settings: SettingService,
    private readonly revocation: RevocationService,
    private readonly sessions: DefaultSessionService,
    private readonly logins: LoginMetrics,
  ) {}

  /** Begins a login; one that cannot begin (provider or store down) is a failed login. */
  @Post('auth/initiate')
  @LoginRoute()
  @UseGuards(AuthRateLimitGuard)
  async initiate(
    @CurrentAuth() ctx: AuthContext,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ location: string }> {
    try {
      return await this.beginLogin(ctx, req, res);
    } catch (e) {
      this.logins.failed(e);
      throw e;
    }
  }

  private async beginLogin(
    ctx: AuthContext,
    req: Request,
    res: Response,
  ): Promise<{ location: string }> {
    res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
    if (ctx.kind === 'session') {
      res.status(200);
      return { location: this.url(UI_HOME_PATH) };
    }
    const callbackUrl = this.url(UI_CALLBACK_PATH);
    const request = await this.providerCall(() => this.auth.authorizationRequest(callbackUrl));
    req.session.oauth_state = request.state;
    req.session.pkce_verifier = request.pkceVerifier;
    req.session.callback_url = callbackUrl;
    this.sessions.expireAsLoginInProgress(req.session);
    // Stored before answering: a 201 tells the client a login is in progress. A session
    // from the store is saved under its lock, so a callback taking an earlier login cannot
    // write over this one; a new one's id is known to no other request (no lock to pay for).
    const save = () => saveSession(req);
    await (this.sessions.getSessionStore().isLoaded(req.session)
      ? this.sessions.withSessionLock(req.sessionID, save)
      : save());
    res.status(201);
    return { location: request.url };
  }

  /**
   * Completes a login: takes it out of the stored session first (atomically, under the
   * session's lock), so of concurrent callbacks exactly one exchanges the code (a reused
   * code makes the provider revoke the grant) and the others answer 409 without calling it.
   * No error answer writes the request's session back: the stored one is already as it
   * should be, and the request's copy may be stale. Each callback counts as one login,
   * succeeded or failed (`LoginMetrics`).
   */
  @Post('auth/callback')
  @LoginRoute()
  @UseGuards(AuthRateLimitGuard)
  @HttpCode(200)
  async callback(
    @Body() body: AuthCallbackBody,
    @Req() req: Request,
  ): Promise<{ location: string }> {
    let completed: { location: string };
    try {
      completed = await this.completeLogin(body, req);
    } catch (e) {
      dropSession(req);
      this.logins.failed(e);
      throw e;
    }
    this.logins.succeeded();
    return completed;
  }

  private async completeLogin(body: AuthCallbackBody, req: Request): Promise<{ location: string }> {
    // A request whose cookie named no stored session has no login to complete: it takes no
    // lock and reads nothing.
    if (!this.sessions.isStoredSession(req)) throw noLoginInProgress();
    const state = stringField(body?.state);
    // No row (it was removed meanwhile: a role change, a reset) is no login.
    const login = await this.sessions.updateStoredSession(
      req.sessionID,
      (stored) => takeLogin(stored, req.session, state),
      req.sessionStore,
    );
    if (!login) throw noLoginInProgress();
    const error = stringField(body?.error);
    if (error !== undefined) {
      const providerError = providerErrorCode(error);
      // The code only: the description is the provider's (or a crafted link's) free text.
      this.logger.log(
        `The identity provider refused a login: ${providerError ?? '(malformed code)'}`,
      );
      throw ApiError.unauthorized('oauth_error', providerErrorMessage(providerError), {
        provider_error: providerError,
      });
    }
    const code = stringField(body?.code);
    if (!code)
      throw ApiError.badRequest('missing_code', 'The callback carries no authorization code');
    const response: Record<string, string> = { code, state: login.state };
    const iss = stringField(body?.iss);
    if (iss) response.iss = iss;
    // Before the exchange: a revocation of the user at any later instant covers these tokens.
    const loginAt = Date.now();
    const tokens = await this.providerCall(() =>
      this.auth.exchangeCode(login.callbackUrl, response, {
        state: login.state,
        pkceVerifier: login.pkceVerifier,
      }),
    );
    const { claims } = await this.providerCall(() =>
      this.auth.verifyAccessToken(tokens.accessToken),
    );
    // A new session id at login: an id planted before login (fixation) is worthless after.
    // The old session stays, holding no login, to answer late callbacks of this one.
    renewSessionId(req);
    req.session.user_id = claims.sub;
    req.session.access_token = tokens.accessToken;
    req.session.refresh_token = tokens.refreshToken;
    req.session.login_at = loginAt;
    // What its owner will recognise it by in their list of sessions. req.ip is the client's
    // address as BODHI_TRUST_PROXY lets Express read it (never a forged X-Forwarded-For).
    recordSessionDevice(
      req.session,
      { userAgent: req.get('user-agent'), clientAddress: req.ip },
      this.sessions.clientAddressMode,
    );
    await saveSession(req);
    return { location: this.url(UI_HOME_PATH) };
  }

  /**
   * Ends the session and what it held. Under the session's lock, with the row read again: a
   * refresh that saved new tokens since this request loaded the session is seen, and none can
   * land between the read and the delete (a refresh holds the lock for database work only,
   * never while the provider answers). The session goes first (a store that fails keeps the
   * login whole, and the answer is an error), then its tokens are revoked as every ended
   * session's are (`revokeHeldTokens`): the access tokens here, the refresh token at the
   * provider in the background, so that no provider, stalled or down, holds a logout up (the
   * revocation is retried). It needs no caller identity (no auth context is resolved for
   * it, so no token is refreshed), and a request whose cookie names no stored session takes
   * no lock and writes nothing.
   */
  @Post(LOGOUT_ROUTE)
  @UseGuards(AuthRateLimitGuard)
  @HttpCode(200)
  async logout(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ location: string }> {
    const ended: (HeldTokens | null)[] = [];
    if (req.session && this.sessions.isStoredSession(req)) {
      const sid = req.sessionID;
      await this.sessions.withSessionLock(sid, async () => {
        let stored: SessionData | null;
        try {
          stored = await this.sessions.getSessionStore().findSession(sid);
        } catch (e) {
          // The login stays as it was; the error answer carries no cookie.
          dropSession(req);
          throw e;
        }
        const { access_token, refresh_token, user_id } = req.session;
        await destroySession(req);
        ended.push({ access_token, refresh_token }, stored);
        // A logged-out browser's logout ends no login: not a revocation.
        if (user_id || stored?.user_id) this.revocation.sessionsEnded('logout', 1);
      });
    }
    // The row the cookie names, when the store could not read it (its encryption key is not
    // configured) and express-session went on with a fresh session: it ends too, or restoring
    // the key would log it in again. Its tokens cannot be read, so none are revoked.
    const unread = this.sessions.cookieSessionId(req);
    if (unread !== undefined && unread !== req.sessionID) {
      if (await this.sessions.endUnreadSession(unread)) this.revocation.sessionsEnded('logout', 1);
    }
    this.sessions.clearCookie(res);
    await revokeHeldTokens(this.revocation, 'logout', ended);
    return { location: this.url(UI_LOGIN_PATH) };
  }

  private url(path: string): string {
    return `${this.settings.publicUrl()}${path}`;
  }

  /** Maps the auth service's errors to API errors: refusals 401, outages 503. */
  private async providerCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      if (e instanceof AuthGrantRejectedError || e instanceof InvalidAccessTokenError) {
        this.logger.log(`Login refused: ${e.message}`);
        throw ApiError.unauthorized('login_failed', `Login failed: ${e.message}`);
      }
      if (e instanceof AuthProviderUnavailableError) throw ApiError.providerUnavailable();
      throw e;
    }
  }
}
