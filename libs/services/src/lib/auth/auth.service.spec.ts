import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import {
  createDevAuthServer,
  DevAuthServer,
  loginThroughForm,
} from '@bodhi/dev-auth-server/testing';
import { CLIENT_ID, CLIENT_SECRET, tempHome, testSettings, type TempHome } from '@bodhi/testing';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeJwt } from 'jose';
import {
  AuthGrantRejectedError,
  AuthProviderUnavailableError,
  InvalidAccessTokenError,
} from './auth.errors.js';
import { AuthService } from './auth.service.js';

const REDIRECT_URI = 'http://localhost:1135/ui/auth/callback';
const TOKEN_TTL_SECONDS = 60;

/** The provider's users for this suite: one plain user, and one holding several roles listed
 * the way Keycloak may list them — the highest not last, a role of another app among them. */
const USER = {
  sub: '5f0c3a52-9a0e-4d51-8e3b-1d6c0b1f0a01',
  username: 'uma@bodhi.test',
  password: 'uma-pass',
  email: 'uma@bodhi.test',
  given_name: 'Uma',
  family_name: 'User',
  role: 'resource_user',
};
const MANY_ROLES = {
  sub: '5f0c3a52-9a0e-4d51-8e3b-1d6c0b1f0a02',
  username: 'max@bodhi.test',
  password: 'max-pass',
  email: 'max@bodhi.test',
  given_name: 'Max',
  family_name: 'Many',
  role: 'resource_admin',
  roles: ['resource_power_user', 'resource_admin', 'resource_user', 'reports_viewer'],
};

/** An AuthService configured for `issuer`, with BODHI_HOME in the suite's temp dir. */
function authService(issuer: string, home: TempHome): AuthService {
  return new AuthService(
    testSettings({
      home: home.dir,
      provider: { issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    }),
  );
}

/** A client-credentials access token from `idp`'s token endpoint, as an API caller sends it. */
async function clientCredentialsToken(idp: DevAuthServer): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${idp.port}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

describe('AuthService against the development identity provider', () => {
  let home: TempHome;
  let idp: DevAuthServer;
  /** Signs with idp's key but names another issuer: its tokens pass the signature check. */
  let impostor: DevAuthServer;
  let auth: AuthService;

  beforeAll(async () => {
    home = tempHome('bodhi-auth-idp-');
    const usersFile = path.join(home.dir, 'users.json');
    fs.writeFileSync(usersFile, JSON.stringify({ users: [USER, MANY_ROLES] }));
    const common = {
      port: 0,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [REDIRECT_URI],
      accessTokenTtlSeconds: TOKEN_TTL_SECONDS,
      usersFile,
      keysFile: path.join(home.dir, 'keys.json'),
    };
    idp = await createDevAuthServer(common);
    impostor = await createDevAuthServer({ ...common, issuer: 'http://impostor.test' });
    auth = authService(idp.issuer, home);
  });
  afterAll(async () => {
    await idp?.close();
    await impostor?.close();
    home?.remove();
  });

  /** The whole login: authorization request, the provider's form, the code exchange. */
  async function login(who: { username: string; password: string }) {
    const request = await auth.authorizationRequest(REDIRECT_URI);
    const callback = await loginThroughForm({ authorizationUrl: request.url, ...who });
    const response = Object.fromEntries(callback.searchParams);
    const checks = { state: request.state, pkceVerifier: request.pkceVerifier };
    return { request, response, checks };
  }

  it('builds a PKCE authorization request for the client and exchanges the code for tokens', async () => {
    const { request, response, checks } = await login(USER);
    const url = new URL(request.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${idp.issuer}/auth`);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid profile email',
      state: request.state,
      code_challenge_method: 'S256',
    });
    expect(response).toMatchObject({ state: request.state, iss: idp.issuer });

    const tokens = await auth.exchangeCode(REDIRECT_URI, response, checks);
    expect(tokens.refreshToken).toEqual(expect.any(String));
    const { claims, expired } = await auth.verifyAccessToken(tokens.accessToken);
    expect(expired).toBe(false);
    expect(claims).toMatchObject({
      iss: idp.issuer,
      sub: USER.sub,
      preferred_username: USER.username,
      given_name: 'Uma',
      family_name: 'User',
    });
    expect(auth.roleOf(claims)).toBe('resource_user');

    // A code works once.
    await expect(auth.exchangeCode(REDIRECT_URI, response, checks)).rejects.toThrow(
      AuthGrantRejectedError,
    );
  });

  it('refuses a code with the wrong PKCE verifier, a mismatched state, or a provider error', async () => {
    const { response, checks } = await login(USER);
    await expect(
      auth.exchangeCode(REDIRECT_URI, response, { ...checks, pkceVerifier: 'x'.repeat(43) }),
    ).rejects.toThrow(/code exchange rejected by the identity provider: invalid_grant/);

    const second = await login(USER);
    await expect(
      auth.exchangeCode(REDIRECT_URI, second.response, { ...second.checks, state: 'other' }),
    ).rejects.toThrow(AuthGrantRejectedError);

    await expect(
      auth.exchangeCode(
        REDIRECT_URI,
        { error: 'access_denied', state: second.checks.state, iss: idp.issuer },
        second.checks,
      ),
    ).rejects.toThrow(/code exchange rejected by the identity provider: access_denied/);
  });

  it('gives the highest role when the token lists several, whatever their order', async () => {
    const { response, checks } = await login(MANY_ROLES);
    const { accessToken } = await auth.exchangeCode(REDIRECT_URI, response, checks);
    const { claims } = await auth.verifyAccessToken(accessToken);
    expect(claims.resource_access?.[CLIENT_ID]?.roles).toEqual(MANY_ROLES.roles);
    expect(auth.roleOf(claims)).toBe('resource_admin');
    // No BodhiApp role at all (another app's role, or no roles for this client): none.
    expect(
      auth.roleOf({ ...claims, resource_access: { [CLIENT_ID]: { roles: ['reports_viewer'] } } }),
    ).toBeNull();
    expect(
      auth.roleOf({ ...claims, resource_access: { other: { roles: ['resource_admin'] } } }),
    ).toBeNull();
    // A malformed claim (not a list) grants nothing rather than matching by substring.
    const malformed = { [CLIENT_ID]: { roles: 'resource_admin' as unknown as string[] } };
    expect(auth.roleOf({ ...claims, resource_access: malformed })).toBeNull();
  });

  it('verifies a bearer token of the provider: a client-credentials token carries no role', async () => {
    const { claims, expired } = await auth.verifyAccessToken(await clientCredentialsToken(idp));
    expect(expired).toBe(false);
    expect(claims.sub).toBe(CLIENT_ID);
    expect(auth.roleOf(claims)).toBeNull();
  });

  it('reports an expired token as expired, with its claims, instead of rejecting it', async () => {
    const { response, checks } = await login(USER);
    const { accessToken } = await auth.exchangeCode(REDIRECT_URI, response, checks);
    const { exp } = decodeJwt(accessToken);
    // Only the clock moves: timers and I/O keep running for real.
    jest.useFakeTimers({
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
    try {
      jest.setSystemTime(((exp as number) + 1) * 1000);
      const verified = await auth.verifyAccessToken(accessToken);
      expect(verified.expired).toBe(true);
      expect(verified.claims.sub).toBe(USER.sub);
    } finally {
      jest.useRealTimers();
    }
  });

  it('rejects a token of another issuer, a bad signature, and what is not a JWT', async () => {
    const foreign = await clientCredentialsToken(impostor);
    expect(decodeJwt(foreign).iss).toBe('http://impostor.test');
    await expect(auth.verifyAccessToken(foreign)).rejects.toThrow(
      new InvalidAccessTokenError('access token rejected: ERR_JWT_CLAIM_VALIDATION_FAILED'),
    );

    const [header, payload, signature] = (await clientCredentialsToken(idp)).split('.');
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    await expect(auth.verifyAccessToken(`${header}.${payload}.${flipped}`)).rejects.toThrow(
      new InvalidAccessTokenError('access token rejected: ERR_JWS_SIGNATURE_VERIFICATION_FAILED'),
    );
    // Claims swapped in under a real signature: the user's claims, the client's signature.
    const { response, checks } = await login(USER);
    const userPayload = (await auth.exchangeCode(REDIRECT_URI, response, checks)).accessToken.split(
      '.',
    )[1];
    await expect(auth.verifyAccessToken(`${header}.${userPayload}.${signature}`)).rejects.toThrow(
      new InvalidAccessTokenError('access token rejected: ERR_JWS_SIGNATURE_VERIFICATION_FAILED'),
    );

    await expect(auth.verifyAccessToken('not-a-jwt')).rejects.toThrow(InvalidAccessTokenError);
  });

  it('refreshes with a rotating refresh token and refuses a replayed one', async () => {
    const { response, checks } = await login(USER);
    const first = await auth.exchangeCode(REDIRECT_URI, response, checks);
    const second = await auth.refresh(first.refreshToken as string);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect((await auth.verifyAccessToken(second.accessToken)).claims.sub).toBe(USER.sub);
    await expect(auth.refresh(first.refreshToken as string)).rejects.toThrow(
      /refresh rejected by the identity provider: invalid_grant/,
    );
  });

  it('gets a client-credentials token of its own client', async () => {
    const { claims, expired } = await auth.verifyAccessToken(await auth.clientCredentialsToken());
    expect(expired).toBe(false);
    expect(claims.sub).toBe(CLIENT_ID);
  });

  it('answers "unavailable" while the provider does not answer, and discovers it once it does', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const config = {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [REDIRECT_URI],
    };
    const down = await createDevAuthServer({ ...config, port: 0 });
    const { issuer, port } = down;
    await down.close();
    let up: DevAuthServer | undefined;
    try {
      const later = authService(issuer, home);
      await expect(later.authorizationRequest(REDIRECT_URI)).rejects.toThrow(
        new AuthProviderUnavailableError(`identity provider unreachable at ${issuer}`),
      );
      await expect(later.verifyAccessToken('x.y.z')).rejects.toThrow(AuthProviderUnavailableError);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(`OpenID discovery at ${issuer}`));

      up = await createDevAuthServer({ ...config, port });
      const request = await later.authorizationRequest(REDIRECT_URI);
      expect(request.url.startsWith(`${issuer}/auth?`)).toBe(true);
    } finally {
      await up?.close();
      warn.mockRestore();
    }
  });
});
