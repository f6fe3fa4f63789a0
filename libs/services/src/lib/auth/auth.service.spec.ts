import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import {
  createDevAuthServer,
  DevAuthServer,
  loginThroughForm,
} from '@bodhi/dev-auth-server/testing';
import { CLIENT_ID, CLIENT_SECRET, tempHome, testSettings, type TempHome } from '@bodhi/testing';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
} from 'jose';
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

/**
 * An AuthService configured for `issuer`, with BODHI_HOME in the suite's temp dir, and each
 * call to the provider bounded to `timeoutMs` (BODHI_AUTH_TIMEOUT_MS; its default unless given).
 */
function authService(issuer: string, home: TempHome, timeoutMs?: number): AuthService {
  return new AuthService(
    testSettings({
      home: home.dir,
      provider: { issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      env: { BODHI_AUTH_TIMEOUT_MS: timeoutMs?.toString() },
    }),
  );
}

interface TokenResponse {
  access_token: string;
  id_token?: string;
  refresh_token?: string;
  error?: string;
}

/** A request to `idp`'s token endpoint as the client (client_secret_basic). */
async function tokenEndpoint(
  idp: DevAuthServer,
  params: Record<string, string>,
): Promise<{ status: number; body: TokenResponse }> {
  const response = await fetch(`http://127.0.0.1:${idp.port}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: (await response.json()) as TokenResponse };
}

/**
 * What `promise` rejects with (undefined when it resolves), to check its class: a
 * `toThrow(new X(message))` compares the message only.
 */
const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

/** What a fake issuer's endpoint answers. */
interface EndpointAnswer {
  status: number;
  type: string;
  body: string;
  headers?: Record<string, string>;
}

/**
 * What a fake issuer's endpoint does: answer, answer nothing ever (a provider that stalls),
 * or drop the connection as the request arrives (a reset).
 */
type EndpointBehaviour = EndpointAnswer | 'stall' | 'reset';

const DISCOVERY = '/.well-known/openid-configuration';
type FakeEndpoint = typeof DISCOVERY | '/token' | '/token/revocation' | '/jwks';

/**
 * An issuer of a few lines: a discovery document naming its endpoints (unless `endpoints`
 * says otherwise of discovery too), each doing what `endpoints` says (404 when it says
 * nothing), and the requests each got (their form bodies).
 */
async function fakeIssuer(endpoints: Partial<Record<FakeEndpoint, EndpointBehaviour>>) {
  const received: Partial<Record<FakeEndpoint, Record<string, string>[]>> = {};
  let issuer = '';
  const discovery = (): EndpointAnswer => ({
    status: 200,
    type: 'application/json',
    body: JSON.stringify({
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      revocation_endpoint: `${issuer}/token/revocation`,
    }),
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url as FakeEndpoint;
      const behaviour = endpoints[path] ?? (path === DISCOVERY ? discovery() : undefined);
      if (!behaviour) return res.writeHead(404).end();
      (received[path] ??= []).push(
        Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString())),
      );
      if (behaviour === 'stall') return;
      if (behaviour === 'reset') return req.socket.destroy();
      res.writeHead(behaviour.status, { 'content-type': behaviour.type, ...behaviour.headers });
      res.end(behaviour.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A client-credentials access token from `idp`'s token endpoint, as an API caller sends it. */
async function clientCredentialsToken(idp: DevAuthServer): Promise<string> {
  const { status, body } = await tokenEndpoint(idp, { grant_type: 'client_credentials' });
  expect(status).toBe(200);
  return body.access_token;
}

describe('AuthService against the development identity provider', () => {
  let home: TempHome;
  let idp: DevAuthServer;
  /** Signs with idp's key but names another issuer: its tokens pass the signature check. */
  let impostor: DevAuthServer;
  let auth: AuthService;
  /** idp's signing key, private half included (both providers sign with it). */
  let keysFile: string;

  beforeAll(async () => {
    home = tempHome('bodhi-auth-idp-');
    keysFile = path.join(home.dir, 'keys.json');
    const usersFile = path.join(home.dir, 'users.json');
    fs.writeFileSync(usersFile, JSON.stringify({ users: [USER, MANY_ROLES] }));
    const common = {
      port: 0,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [REDIRECT_URI],
      accessTokenTtlSeconds: TOKEN_TTL_SECONDS,
      usersFile,
      keysFile,
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

  /** exchangeCode's arguments after the redirect URI, for a login. */
  function loginArgs({ response, checks }: Awaited<ReturnType<typeof login>>) {
    return [response, checks] as const;
  }

  /** A login's whole token response (the ID token too, which AuthService does not keep). */
  async function loginTokens(who: { username: string; password: string }) {
    const { response, checks } = await login(who);
    const { status, body } = await tokenEndpoint(idp, {
      grant_type: 'authorization_code',
      code: response.code,
      redirect_uri: REDIRECT_URI,
      code_verifier: checks.pkceVerifier,
    });
    expect(status).toBe(200);
    return body;
  }

  /**
   * `payload` signed with the provider's own key, as the provider would sign it (RS256, its
   * kid, `typ: at+jwt`) unless `header` says otherwise: the signature is good, so only the
   * claims and the header decide.
   */
  async function signed(payload: JWTPayload, header: Partial<JWTHeaderParameters> = {}) {
    const [jwk] = (JSON.parse(fs.readFileSync(keysFile, 'utf8')) as { keys: JWK[] }).keys;
    const alg = header.alg ?? 'RS256';
    const key = await importJWK({ ...jwk, alg }, alg);
    return new SignJWT(payload)
      .setProtectedHeader({ alg, kid: jwk.kid, typ: 'at+jwt', ...header })
      .sign(key);
  }

  /** The claims of a real access token of USER, to sign variants of. */
  async function userClaims(): Promise<JWTPayload> {
    return decodeJwt((await loginTokens(USER)).access_token);
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

  it('reports an expired token as expired, with its claims, instead of rejecting it', async () => {
    const tokens = await loginTokens(USER);
    const accessToken = tokens.access_token;
    const idToken = tokens.id_token as string;
    const client = await clientCredentialsToken(idp);
    // Past the exp of all three (the ID token lives longest).
    const exp = Math.max(...[accessToken, idToken, client].map((t) => decodeJwt(t).exp as number));
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
      jest.setSystemTime((exp + 1) * 1000);
      const verified = await auth.verifyAccessToken(accessToken);
      expect(verified.expired).toBe(true);
      expect(verified.claims.sub).toBe(USER.sub);
      // Expired tokens that were never access tokens of a user stay refused.
      await expect(auth.verifyAccessToken(idToken)).rejects.toThrow(InvalidAccessTokenError);
      await expect(auth.verifyAccessToken(client)).rejects.toThrow(
        new InvalidAccessTokenError('token has no resource owner'),
      );
    } finally {
      jest.useRealTimers();
    }
  });

  it('rejects a token of another issuer, a bad signature, and what is not a JWT', async () => {
    const foreign = await clientCredentialsToken(impostor);
    expect(decodeJwt(foreign).iss).toBe('http://impostor.test');
    await expect(auth.verifyAccessToken(foreign)).rejects.toThrow(
      new InvalidAccessTokenError(
        'access token rejected: ERR_JWT_CLAIM_VALIDATION_FAILED (iss check_failed)',
      ),
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

  it('accepts an access token of a real login, and one signed alike in either shape', async () => {
    const { access_token } = await loginTokens(USER);
    const { claims, expired } = await auth.verifyAccessToken(access_token);
    expect(expired).toBe(false);
    expect(claims).toMatchObject({
      sub: USER.sub,
      iat: expect.any(Number),
      exp: expect.any(Number),
      jti: expect.any(String),
    });

    const payload = decodeJwt(access_token);
    const valid = async (token: Promise<string>) =>
      expect((await auth.verifyAccessToken(await token)).claims.sub).toBe(USER.sub);
    // The helper's tokens pass: each refusal below is its one change's doing.
    await valid(signed(payload));
    await valid(signed(payload, { typ: 'application/at+jwt' }));
    await valid(signed(payload, { typ: 'AT+JWT' }));
    await valid(signed({ ...payload, aud: ['other-client', CLIENT_ID], azp: undefined }));
    // Keycloak's: header typ JWT, the claim typ Bearer, aud "account" and the client in azp.
    await valid(
      signed({ ...payload, typ: 'Bearer', aud: 'account', azp: CLIENT_ID }, { typ: 'JWT' }),
    );
  });

  it('refuses an ID token and a client-credentials token of the provider', async () => {
    const { id_token } = await loginTokens(USER);
    expect(decodeJwt(id_token as string)).toMatchObject({ iss: idp.issuer, aud: CLIENT_ID });
    // It has no jti; nor a `typ` header, which the forged variants below show is refused too.
    expect(decodeProtectedHeader(id_token as string).typ).toBeUndefined();
    await expect(auth.verifyAccessToken(id_token as string)).rejects.toThrow(
      new InvalidAccessTokenError(
        'access token rejected: ERR_JWT_CLAIM_VALIDATION_FAILED (jti missing)',
      ),
    );

    const client = await clientCredentialsToken(idp);
    expect(decodeJwt(client)).toMatchObject({ aud: CLIENT_ID, client_id: CLIENT_ID });
    await expect(auth.verifyAccessToken(client)).rejects.toThrow(
      new InvalidAccessTokenError('token has no resource owner'),
    );
  });

  it.each<[string, (claims: JWTPayload) => JWTPayload, Partial<JWTHeaderParameters>, string]>([
    [
      'another audience',
      (c) => ({ ...c, aud: 'other-client', azp: 'other-client' }),
      {},
      'token is not for this client',
    ],
    [
      'no audience, our client only as client_id',
      (c) => ({ ...c, aud: undefined, azp: undefined }),
      {},
      'token is not for this client',
    ],
    [
      'no exp',
      (c) => ({ ...c, exp: undefined }),
      {},
      'access token rejected: ERR_JWT_CLAIM_VALIDATION_FAILED (exp missing)',
    ],
    [
      'no iat',
      (c) => ({ ...c, iat: undefined }),
      {},
      'access token rejected: ERR_JWT_CLAIM_VALIDATION_FAILED (iat missing)',
    ],
    [
      'no jti',
      (c) => ({ ...c, jti: undefined }),
      {},
      'access token rejected: ERR_JWT_CLAIM_VALIDATION_FAILED (jti missing)',
    ],
    ['an empty jti', (c) => ({ ...c, jti: '' }), {}, 'token has no jti'],
    [
      'no sub',
      (c) => ({ ...c, sub: undefined }),
      {},
      'access token rejected: ERR_JWT_CLAIM_VALIDATION_FAILED (sub missing)',
    ],
    ['header typ JWT', (c) => c, { typ: 'JWT' }, 'token is not an access token'],
    ['no header typ', (c) => c, { typ: undefined }, 'token is not an access token'],
    [
      "Keycloak's ID token (typ ID)",
      (c) => ({ ...c, typ: 'ID' }),
      { typ: 'JWT' },
      'token is not an access token',
    ],
    ['the client as subject', (c) => ({ ...c, sub: CLIENT_ID }), {}, 'token has no resource owner'],
    [
      'sub equal to client_id (another client acting for itself)',
      (c) => ({ ...c, sub: 'svc', client_id: 'svc', azp: CLIENT_ID }),
      {},
      'token has no resource owner',
    ],
    [
      'RS384, when only RS256 is allowed',
      (c) => c,
      { alg: 'RS384' },
      'access token rejected: ERR_JOSE_ALG_NOT_ALLOWED',
    ],
  ])('refuses a token signed by the provider with %s', async (_, change, header, message) => {
    const token = await signed(change(await userClaims()), header);
    await expect(auth.verifyAccessToken(token)).rejects.toThrow(
      new InvalidAccessTokenError(message),
    );
  });

  it('refuses forged signatures: alg none, HS256 keyed with the public key, a jku or an embedded jwk', async () => {
    const payload = await userClaims();
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(payload)}.`;
    await expect(auth.verifyAccessToken(unsigned)).rejects.toThrow(
      new InvalidAccessTokenError('access token rejected: ERR_JOSE_ALG_NOT_ALLOWED'),
    );

    // The published key, as an HMAC secret: what a verifier trusting the header's alg accepts.
    const jwks = (await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: JWK[] };
    const [published] = jwks.keys;
    const hmac = new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', kid: published.kid, typ: 'at+jwt' })
      .sign(new TextEncoder().encode(JSON.stringify(published)));
    await expect(auth.verifyAccessToken(await hmac)).rejects.toThrow(
      new InvalidAccessTokenError('access token rejected: ERR_JOSE_ALG_NOT_ALLOWED'),
    );

    // A key of the attacker's own, named by URL or embedded: only the provider's JWKS counts.
    const attacker = await generateKeyPair('RS256', { extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    for (const header of [{ jku: 'http://attacker.test/jwks' }, { jwk: attackerJwk }]) {
      const token = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid: published.kid, typ: 'at+jwt', ...header })
        .sign(attacker.privateKey);
      expect(decodeProtectedHeader(token)).toMatchObject(header);
      await expect(auth.verifyAccessToken(token)).rejects.toThrow(
        new InvalidAccessTokenError('access token rejected: ERR_JWS_SIGNATURE_VERIFICATION_FAILED'),
      );
    }
  });

  it('checks everything but expiry of an expired token: only an access token is reported expired', async () => {
    const claims = await userClaims();
    const now = Math.floor(Date.now() / 1000);
    const past = { ...claims, iat: now - 120, exp: now - 60 };
    const verified = await auth.verifyAccessToken(await signed(past));
    expect(verified).toEqual({ expired: true, claims: expect.objectContaining({ sub: USER.sub }) });

    const refused = async (token: Promise<string>, message: string) =>
      expect(auth.verifyAccessToken(await token)).rejects.toThrow(
        new InvalidAccessTokenError(message),
      );
    await refused(signed(past, { typ: 'JWT' }), 'token is not an access token');
    await refused(signed({ ...past, typ: 'ID' }, { typ: 'JWT' }), 'token is not an access token');
    await refused(
      signed({ ...past, aud: 'other-client', azp: 'other-client' }),
      'token is not for this client',
    );
    await refused(signed({ ...past, sub: CLIENT_ID }), 'token has no resource owner');
    await refused(
      signed({ ...past, jti: undefined }),
      'access token rejected: ERR_JWT_CLAIM_VALIDATION_FAILED (jti missing)',
    );
    await refused(
      signed(past, { alg: 'RS384' }),
      'access token rejected: ERR_JOSE_ALG_NOT_ALLOWED',
    );
  });

  it('accepts only the algorithms BODHI_AUTH_TOKEN_ALGORITHMS names', async () => {
    const { access_token } = await loginTokens(USER);
    const strict = new AuthService(
      testSettings({
        home: home.dir,
        provider: { issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        env: { BODHI_AUTH_TOKEN_ALGORITHMS: 'PS256,ES256' },
      }),
    );
    await expect(strict.verifyAccessToken(access_token)).rejects.toThrow(
      new InvalidAccessTokenError('access token rejected: ERR_JOSE_ALG_NOT_ALLOWED'),
    );
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

  it('revokes a refresh token (RFC 7009): the provider refuses it from then on, and only it', async () => {
    const revoked = await auth.exchangeCode(REDIRECT_URI, ...loginArgs(await login(USER)));
    const kept = await auth.exchangeCode(REDIRECT_URI, ...loginArgs(await login(USER)));
    await auth.revokeRefreshToken(revoked.refreshToken as string);

    const refresh = (token?: string) =>
      tokenEndpoint(idp, { grant_type: 'refresh_token', refresh_token: token as string });
    expect(await refresh(revoked.refreshToken)).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
    expect((await refresh(kept.refreshToken)).status).toBe(200);
    // A token the provider no longer knows is no error (RFC 7009 §2.2).
    await auth.revokeRefreshToken(revoked.refreshToken as string);
  });

  it('reports a revocation the provider refuses as rejected, and one it cannot answer as unavailable', async () => {
    const { accessToken, refreshToken } = await auth.exchangeCode(
      REDIRECT_URI,
      ...loginArgs(await login(USER)),
    );
    // oidc-provider revokes no JWTs (they are not stored): unsupported_token_type, which no
    // retry changes.
    const refused = await rejection(auth.revokeRefreshToken(accessToken));
    expect(refused).toBeInstanceOf(AuthGrantRejectedError);
    expect((refused as Error).message).toMatch(/unsupported_token_type/);

    const gone = await createDevAuthServer({
      port: 0,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [REDIRECT_URI],
    });
    const later = authService(gone.issuer, home);
    // Discovered while the provider answers, so the revocation request itself fails.
    await later.authorizationRequest(REDIRECT_URI);
    await gone.close();
    expect(await rejection(later.revokeRefreshToken(refreshToken as string))).toBeInstanceOf(
      AuthProviderUnavailableError,
    );
  });

  it('reports a revocation refused for a wrong client secret as unavailable: the token still works, so it must be retried', async () => {
    const { refreshToken } = await auth.exchangeCode(REDIRECT_URI, ...loginArgs(await login(USER)));
    const wrongSecret = new AuthService(
      testSettings({
        home: home.dir,
        provider: { issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: 'not-the-secret' },
      }),
    );
    // What the provider answers that secret at its revocation endpoint (RFC 7009 §2.2.1).
    const direct = await fetch(`${idp.issuer}/token/revocation`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${CLIENT_ID}:not-the-secret`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        token: refreshToken as string,
        token_type_hint: 'refresh_token',
      }),
    });
    expect(direct.status).toBe(401);
    expect(await direct.json()).toMatchObject({ error: 'invalid_client' });
    // oidc-provider also challenges (openid-client then throws its WWW-Authenticate error, not
    // a body error); the fake issuer below answers invalid_client in the body alone.
    expect(direct.headers.get('www-authenticate')).toMatch(/error="invalid_client"/);

    expect(await rejection(wrongSecret.revokeRefreshToken(refreshToken as string))).toBeInstanceOf(
      AuthProviderUnavailableError,
    );
    // The provider did not take it: the token refreshes.
    expect(
      (
        await tokenEndpoint(idp, {
          grant_type: 'refresh_token',
          refresh_token: refreshToken as string,
        })
      ).status,
    ).toBe(200);
  });

  it.each<[string, EndpointAnswer, (failure: unknown) => void]>([
    [
      '503 with an HTML page',
      { status: 503, type: 'text/html', body: '<html><body>Service Unavailable</body></html>' },
      (failure) => expect(failure).toBeInstanceOf(AuthProviderUnavailableError),
    ],
    [
      '500 with {"error":"server_error"}',
      { status: 500, type: 'application/json', body: '{"error":"server_error"}' },
      (failure) => expect(failure).toBeInstanceOf(AuthProviderUnavailableError),
    ],
    [
      '401 with {"error":"invalid_client"} and no challenge',
      { status: 401, type: 'application/json', body: '{"error":"invalid_client"}' },
      (failure) => expect(failure).toBeInstanceOf(AuthProviderUnavailableError),
    ],
    [
      '400 with {"error":"invalid_client"} (RFC 6749 §5.2 allows 400)',
      { status: 400, type: 'application/json', body: '{"error":"invalid_client"}' },
      (failure) => expect(failure).toBeInstanceOf(AuthProviderUnavailableError),
    ],
    [
      '400 with {"error":"invalid_request"} (final: rejected)',
      { status: 400, type: 'application/json', body: '{"error":"invalid_request"}' },
      (failure) => {
        expect(failure).toBeInstanceOf(AuthGrantRejectedError);
        expect((failure as Error).message).toMatch(/invalid_request/);
      },
    ],
    [
      '200 (revoked: no error)',
      { status: 200, type: 'text/plain', body: '' },
      (failure) => expect(failure).toBeUndefined(),
    ],
  ])('sorts a revocation endpoint answering %s', async (_, answer, check) => {
    const issuer = await fakeIssuer({ '/token/revocation': answer });
    try {
      const service = authService(issuer.issuer, home);
      check(await rejection(service.revokeRefreshToken('rt-of-the-fake')));
      // The request reached the endpoint: its answer, not discovery, decided.
      expect(issuer.received['/token/revocation']).toEqual([
        { token: 'rt-of-the-fake', token_type_hint: 'refresh_token' },
      ]);
    } finally {
      await issuer.close();
    }
  });

  it('gets a client-credentials token of its own client, which is no bearer token of a user', async () => {
    const token = await auth.clientCredentialsToken();
    expect(decodeJwt(token)).toMatchObject({
      iss: idp.issuer,
      sub: CLIENT_ID,
      client_id: CLIENT_ID,
    });
    await expect(auth.verifyAccessToken(token)).rejects.toThrow(
      new InvalidAccessTokenError('token has no resource owner'),
    );
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

/** BODHI_AUTH_TIMEOUT_MS of the services below: what a fake that never answers costs a call. */
const STALL_BOUND_MS = 300;

const html = (status: number): EndpointAnswer => ({
  status,
  type: 'text/html',
  body: '<html><body><h1>Bad Gateway</h1></body></html>',
});
const json = (status: number, body: object): EndpointAnswer => ({
  status,
  type: 'application/json',
  body: JSON.stringify(body),
});

/** The provider failing to answer, whatever it was asked: never a refusal. */
const PROVIDER_FAILURES: [string, EndpointBehaviour][] = [
  ['502 with an HTML page', html(502)],
  ['200 with an HTML page', html(200)],
  ['500 with {"error":"server_error"}', json(500, { error: 'server_error' })],
  ['503 with {"error":"temporarily_unavailable"}', json(503, { error: 'temporarily_unavailable' })],
  ['400 with {"error":"temporarily_unavailable"}', json(400, { error: 'temporarily_unavailable' })],
  [
    '401 with {"error":"invalid_client"} (our client, not the login)',
    json(401, { error: 'invalid_client' }),
  ],
  [
    'a redirect',
    {
      status: 302,
      type: 'text/plain',
      body: '',
      headers: { location: 'http://127.0.0.1:9/elsewhere' },
    },
  ],
  ['a reset connection', 'reset'],
];

describe('AuthService sorting what a failing provider answers: refused, or unavailable', () => {
  let home: TempHome;
  beforeAll(() => {
    home = tempHome('bodhi-auth-faults-');
  });
  afterAll(() => home?.remove());

  /** `check` run against an AuthService of a fake issuer whose endpoints do `endpoints`. */
  async function against(
    endpoints: Partial<Record<FakeEndpoint, EndpointBehaviour>>,
    check: (service: AuthService, issuer: Awaited<ReturnType<typeof fakeIssuer>>) => Promise<void>,
  ): Promise<void> {
    const issuer = await fakeIssuer(endpoints);
    try {
      await check(authService(issuer.issuer, home, STALL_BOUND_MS), issuer);
    } finally {
      await issuer.close();
    }
  }

  const grants: [string, (service: AuthService) => Promise<unknown>][] = [
    ['refresh', (service) => service.refresh('rt-of-the-fake')],
    [
      'code exchange',
      (service) =>
        service.exchangeCode(
          REDIRECT_URI,
          { code: 'code-of-the-fake', state: 'st' },
          { state: 'st', pkceVerifier: 'v'.repeat(43) },
        ),
    ],
  ];

  describe.each(grants)('a %s', (what, grant) => {
    it('refused with invalid_grant is rejected: the grant is no good', () =>
      against({ '/token': json(400, { error: 'invalid_grant' }) }, async (service) => {
        const refused = await rejection(grant(service));
        expect(refused).toBeInstanceOf(AuthGrantRejectedError);
        expect((refused as Error).message).toBe(
          `${what} rejected by the identity provider: invalid_grant`,
        );
      }));

    it.each(PROVIDER_FAILURES)('answered %s is unavailable', (_, behaviour) =>
      against({ '/token': behaviour }, async (service, issuer) => {
        expect(await rejection(grant(service))).toBeInstanceOf(AuthProviderUnavailableError);
        // The request reached the endpoint: its answer, not discovery, decided.
        expect(issuer.received['/token']).toHaveLength(1);
      }),
    );
  });

  it('a refresh answered 200 with JSON that holds no tokens is unavailable', () =>
    against({ '/token': json(200, { not: 'tokens' }) }, async (service) => {
      expect(await rejection(service.refresh('rt'))).toBeInstanceOf(AuthProviderUnavailableError);
    }));

  it('a provider that stops answering costs a call BODHI_AUTH_TIMEOUT_MS, then is unavailable', async () => {
    const calls: [FakeEndpoint, (service: AuthService) => Promise<unknown>][] = [
      [DISCOVERY, (service) => service.authorizationRequest(REDIRECT_URI)],
      ['/token', grants[1][1]],
      ['/token/revocation', (service) => service.revokeRefreshToken('rt')],
      [
        '/jwks',
        (service) => service.verifyAccessToken('eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln'),
      ],
    ];
    for (const [endpoint, call] of calls) {
      await against({ [endpoint]: 'stall' }, async (service, issuer) => {
        expect(await rejection(call(service))).toBeInstanceOf(AuthProviderUnavailableError);
        expect(issuer.received[endpoint]).toHaveLength(1);
      });
    }
  });

  describe('its key set', () => {
    type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
    let keys: { kid: string; privateKey: PrivateKey; jwk: JWK }[];
    beforeAll(async () => {
      keys = await Promise.all(
        ['k1', 'k2'].map(async (kid) => {
          const { privateKey, publicKey } = await generateKeyPair('RS256');
          const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
          return { kid, privateKey, jwk };
        }),
      );
    });

    /** An access token of the fake issuer for a user, signed with key `kid`. */
    const tokenOf = (issuer: string, kid: string) =>
      new SignJWT({ sub: USER.sub, jti: `jti-${kid}`, azp: CLIENT_ID, aud: CLIENT_ID })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' })
        .setIssuer(issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(keys.find((k) => k.kid === kid)?.privateKey as PrivateKey);
    const keySet = (...kids: string[]) =>
      json(200, { keys: keys.filter((k) => kids.includes(k.kid)).map((k) => k.jwk) });

    it.each<[string, EndpointBehaviour]>([
      ...PROVIDER_FAILURES,
      ['200 with JSON that is not a key set', json(200, { keys: 'none' })],
    ])('answered %s is unavailable: the token is not refused', (_, behaviour) =>
      against({ '/jwks': behaviour }, async (service, issuer) => {
        const failure = await rejection(
          service.verifyAccessToken(await tokenOf(issuer.issuer, 'k1')),
        );
        expect(failure).toBeInstanceOf(AuthProviderUnavailableError);
      }),
    );

    it("fetched for the check, and without the token's key, refuses the token", () =>
      against({ '/jwks': keySet('k1') }, async (service, issuer) => {
        await expect(service.verifyAccessToken(await tokenOf(issuer.issuer, 'k2'))).rejects.toThrow(
          new InvalidAccessTokenError('access token rejected: ERR_JWKS_NO_MATCHING_KEY'),
        );
        expect(issuer.received['/jwks']).toHaveLength(1);
      }));

    it('fetched moments before, without a key the token names, is unavailable until it may be fetched again', () =>
      against({ '/jwks': keySet('k1') }, async (service, issuer) => {
        const { claims } = await service.verifyAccessToken(await tokenOf(issuer.issuer, 'k1'));
        expect(claims.sub).toBe(USER.sub);
        // A key the provider may have added since: jose fetches again only after 30 s.
        expect(
          await rejection(service.verifyAccessToken(await tokenOf(issuer.issuer, 'k2'))),
        ).toBeInstanceOf(AuthProviderUnavailableError);
        expect(issuer.received['/jwks']).toHaveLength(1);
      }));
  });
});
