import { Body, Controller, HttpCode, Logger, Post, Req, Res } from '@nestjs/common';
import {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  AuthService,
  DefaultSessionService,
  InvalidAccessTokenError,
  RevocationService,
  SESSION_COOKIE_NAME,
  SettingService,
} from '@bodhi/services';
import {
  ApiError,
  CurrentAuth,
  destroySession,
  dropSession,
  OAUTH_SESSION_KEYS,
  regenerateSession,
  saveSession,
} from '@bodhi/auth-middleware';
import type { AuthContext } from '@bodhi/auth-middleware';
import type { Request, Response } from 'express';
import { API_PREFIX, UI_CALLBACK_PATH, UI_HOME_PATH, UI_LOGIN_PATH } from './routes.constants.js';

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

/** Login (authorization code + PKCE against the identity provider) and logout. */
@Controller(API_PREFIX)
export class AuthController {
  private readonly logger = new Logger(AuthController.name);

  constructor(
    private readonly auth: AuthService,
    private readonly settings: SettingService,
    private readonly revocation: RevocationService,
    private readonly sessions: DefaultSessionService,
  ) {}

  @Post('auth/initiate')
  async initiate(
    @CurrentAuth() ctx: AuthContext,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
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
    // Stored before answering: a 201 tells the client a login is in progress.
    await saveSession(req);
    res.status(201);
    return { location: request.url };
  }

  @Post('auth/callback')
  @HttpCode(200)
  async callback(
    @Body() body: AuthCallbackBody,
    @Req() req: Request,
  ): Promise<{ location: string }> {
    const {
      oauth_state: expectedState,
      pkce_verifier: pkceVerifier,
      callback_url: callbackUrl,
    } = req.session;
    if (!expectedState || !pkceVerifier || !callbackUrl) {
      throw ApiError.badRequest(
        'no_login_in_progress',
        'No login is in progress for this session; start again',
      );
    }
    const error = stringField(body?.error);
    const state = stringField(body?.state);
    const code = stringField(body?.code);
    // Whatever happens next, this login attempt is used up.
    for (const key of OAUTH_SESSION_KEYS) delete req.session[key];
    if (error) {
      await saveSession(req);
      const description = stringField(body?.error_description);
      throw ApiError.unauthorized(
        'oauth_error',
        `The identity provider refused the login: ${error}${description ? ` (${description})` : ''}`,
      );
    }
    if (!state || state !== expectedState) {
      await saveSession(req);
      throw ApiError.badRequest(
        'state_mismatch',
        'The login state does not match; start the login again',
      );
    }
    if (!code) {
      await saveSession(req);
      throw ApiError.badRequest('missing_code', 'The callback carries no authorization code');
    }
    const response: Record<string, string> = { code, state };
    const iss = stringField(body?.iss);
    if (iss) response.iss = iss;
    // Before the exchange: a revocation of the user at any later instant covers these tokens.
    const loginAt = Date.now();
    const tokens = await this.providerCall(() =>
      this.auth.exchangeCode(callbackUrl, response, { state: expectedState, pkceVerifier }),
    ).catch(async (e) => {
      await saveSession(req);
      throw e;
    });
    const { claims } = await this.providerCall(() =>
      this.auth.verifyAccessToken(tokens.accessToken),
    );
    // A new session id at login: an id planted before login (fixation) is worthless after.
    await regenerateSession(req);
    req.session.user_id = claims.sub;
    req.session.access_token = tokens.accessToken;
    req.session.refresh_token = tokens.refreshToken;
    req.session.login_at = loginAt;
    await saveSession(req);
    return { location: this.url(UI_HOME_PATH) };
  }

  /**
   * Ends the session and what it held: its access tokens are revoked here (before the
   * session goes, so a failure keeps both), its refresh token at the provider (after: a
   * provider that fails never keeps the user logged in; the revocation is retried). Under
   * the session's lock, with the row read again: a refresh that saved new tokens since this
   * request loaded the session is seen, and none can land between the read and the delete.
   */
  @Post('logout')
  @HttpCode(200)
  async logout(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ location: string }> {
    let refreshToken: string | undefined;
    if (req.session) {
      const sid = req.sessionID;
      await this.sessions.withSessionLock(sid, async () => {
        try {
          const stored = await this.sessions.getSessionStore().findSession(sid);
          const held = new Set([req.session.access_token, stored?.access_token]);
          for (const accessToken of held) await this.revocation.revokeAccessToken(accessToken);
          refreshToken = stored?.refresh_token ?? req.session.refresh_token;
        } catch (e) {
          // The login stays as it was; the error answer carries no cookie.
          dropSession(req);
          throw e;
        }
        await destroySession(req);
      });
    }
    res.clearCookie(SESSION_COOKIE_NAME, { path: '/', httpOnly: true, sameSite: 'strict' });
    await this.revocation.revokeRefreshToken(refreshToken);
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
      if (e instanceof AuthProviderUnavailableError) {
        throw ApiError.unavailable(
          'auth_provider_unavailable',
          'The identity provider is unavailable; try again',
        );
      }
      throw e;
    }
  }
}
