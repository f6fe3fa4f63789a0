// End-to-end tests of the provider: a real server in-process on a free port, real HTTP with
// the global fetch, tokens verified with jose against the published JWKS. No mocks.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
} from 'jose';

import { createDevAuthServer, type DevAuthServer } from './dev-auth-server.js';
import { LOGIN_ERROR } from './interactions.js';
import {
  CookieJar,
  LoginFailedError,
  buildAuthorizationUrl,
  createPkcePair,
  loginThroughForm,
} from './testing/code-flow.js';

const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'test-secret';
const REDIRECT_URI = 'http://localhost:1135/ui/auth/callback';
const USER = { sub: '3d23da90-6077-46ce-a194-563bdda3477a', username: 'user@bodhi.test' };
const ADMIN = { sub: 'b54f3cc8-489c-47cd-9a7a-eaccc55ea373', username: 'admin@bodhi.test' };

interface TokenResponse {
  status: number;
  body: Record<string, unknown> & {
    access_token?: string;
    refresh_token?: string;
    id_token?: string;
    expires_in?: number;
    error?: string;
  };
}

/** A token-endpoint request authenticated with client_secret_basic (or _post). */
async function tokenRequest(
  server: DevAuthServer,
  params: Record<string, string>,
  { auth = 'basic', secret = CLIENT_SECRET }: { auth?: 'basic' | 'post'; secret?: string } = {},
): Promise<TokenResponse> {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'basic') {
    const credentials = `${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(secret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  } else {
    body.set('client_id', CLIENT_ID);
    body.set('client_secret', secret);
  }
  const response = await fetch(`${server.issuer}/token`, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json()) as TokenResponse['body'] };
}

/** Logs in through the form and exchanges the code: the whole authorization-code flow. Pass
 * a `jar` to keep the provider session (a later login with it skips the form). */
async function codeFlow(
  server: DevAuthServer,
  username: string,
  password: string,
  scope = 'openid profile email',
  jar = new CookieJar(),
) {
  const { codeVerifier, codeChallenge } = createPkcePair();
  const state = `state-${Math.random()}`;
  const authorizationUrl = buildAuthorizationUrl({
    issuer: server.issuer,
    clientId: CLIENT_ID,
    redirectUri: REDIRECT_URI,
    state,
    codeChallenge,
    scope,
  });
  const callback = await loginThroughForm({ authorizationUrl, username, password, jar });
  expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
  expect(callback.searchParams.get('state')).toBe(state);
  const code = callback.searchParams.get('code');
  expect(code).toBeTruthy();

  const tokens = await tokenRequest(server, {
    grant_type: 'authorization_code',
    code: code ?? '',
    redirect_uri: REDIRECT_URI,
    code_verifier: codeVerifier,
  });
  expect(tokens.status).toBe(200);
  return tokens.body;
}

async function clientCredentialsToken(server: DevAuthServer): Promise<string> {
  const { status, body } = await tokenRequest(server, { grant_type: 'client_credentials' });
  expect(status).toBe(200);
  return body.access_token ?? '';
}

function roles(payload: JWTPayload): unknown {
  return (payload.resource_access as Record<string, { roles: string[] }> | undefined)?.[CLIENT_ID]
    ?.roles;
}

describe('dev-auth-server', () => {
  let server: DevAuthServer;
  let verify: (token: string) => Promise<JWTPayload>;

  beforeAll(async () => {
    server = await createDevAuthServer({
      port: 0,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [REDIRECT_URI],
      accessTokenTtlSeconds: 2,
    });
    const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    verify = async (token) =>
      (
        await jwtVerify(token, jwks, {
          issuer: server.issuer,
          audience: CLIENT_ID,
          algorithms: ['RS256'],
          typ: 'at+jwt',
        })
      ).payload;
  });

  afterAll(async () => {
    await server.close();
  });

  it('serves discovery and the JWKS', async () => {
    expect(server.issuer).toBe(`http://127.0.0.1:${server.port}`);
    const discovery = (await (
      await fetch(`${server.issuer}/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    expect(discovery).toMatchObject({
      issuer: server.issuer,
      authorization_endpoint: `${server.issuer}/auth`,
      token_endpoint: `${server.issuer}/token`,
      jwks_uri: `${server.issuer}/jwks`,
      userinfo_endpoint: `${server.issuer}/me`,
      end_session_endpoint: `${server.issuer}/session/end`,
      code_challenge_methods_supported: ['S256'],
    });
    expect(discovery.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']),
    );

    const jwks = (await (await fetch(`${server.issuer}/jwks`)).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(jwks.keys[0].kid).toEqual(expect.any(String));
    expect(jwks.keys[0].d).toBeUndefined(); // public half only
  });

  it('runs the authorization-code flow with PKCE and issues RS256 JWT access tokens', async () => {
    const tokens = await codeFlow(server, 'user@bodhi.test', 'user-pass');
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.refresh_token).toEqual(expect.any(String));

    const accessToken = tokens.access_token ?? '';
    expect(decodeProtectedHeader(accessToken)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    const claims = await verify(accessToken);
    expect(claims).toMatchObject({
      iss: server.issuer,
      aud: CLIENT_ID,
      client_id: CLIENT_ID,
      azp: CLIENT_ID,
      sub: USER.sub,
      preferred_username: 'user@bodhi.test',
      email: 'user@bodhi.test',
      given_name: 'Uma',
      family_name: 'User',
      resource_access: { [CLIENT_ID]: { roles: ['resource_user'] } },
    });
    expect(claims.scope).toBe('openid profile email');

    // The ID token carries the same profile claims.
    const idToken = decodeJwt(tokens.id_token ?? '');
    expect(idToken).toMatchObject({
      iss: server.issuer,
      aud: CLIENT_ID,
      sub: USER.sub,
      preferred_username: 'user@bodhi.test',
      email: 'user@bodhi.test',
      given_name: 'Uma',
      family_name: 'User',
    });

    // And so does userinfo, called with the JWT access token (as Keycloak allows).
    const userinfo = await fetch(`${server.issuer}/me`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toMatchObject({
      sub: USER.sub,
      preferred_username: 'user@bodhi.test',
      email: 'user@bodhi.test',
      given_name: 'Uma',
      family_name: 'User',
    });
  });

  it('issues RFC 9068 access tokens: a user as sub, a client-credentials token the client', async () => {
    const { access_token } = await codeFlow(server, 'user@bodhi.test', 'user-pass');
    const expectedClaims = {
      iss: server.issuer,
      aud: CLIENT_ID,
      client_id: CLIENT_ID,
      jti: expect.any(String),
      iat: expect.any(Number),
      exp: expect.any(Number),
    };
    for (const token of [access_token ?? '', await clientCredentialsToken(server)]) {
      expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
      expect(await verify(token)).toMatchObject(expectedClaims);
    }
    expect(decodeJwt(access_token ?? '').sub).toBe(USER.sub);
    const client = decodeJwt(await clientCredentialsToken(server));
    expect(client.sub).toBe(CLIENT_ID);
    expect(client.resource_access).toBeUndefined();
    // Every token its own jti.
    expect(client.jti).not.toBe(decodeJwt(access_token ?? '').jti);
  });

  it('revokes a refresh token at the revocation endpoint with client_secret_basic (RFC 7009)', async () => {
    const discovery = (await (
      await fetch(`${server.issuer}/.well-known/openid-configuration`)
    ).json()) as { revocation_endpoint: string };
    expect(discovery.revocation_endpoint).toBe(`${server.issuer}/token/revocation`);
    const revoked = await codeFlow(server, 'user@bodhi.test', 'user-pass');
    const kept = await codeFlow(server, 'user@bodhi.test', 'user-pass');
    const credentials = `${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`;
    const revocation = await fetch(discovery.revocation_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(credentials).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        token: revoked.refresh_token ?? '',
        token_type_hint: 'refresh_token',
      }),
    });
    expect(revocation.status).toBe(200);

    const refresh = (token?: string) =>
      tokenRequest(server, { grant_type: 'refresh_token', refresh_token: token ?? '' });
    expect(await refresh(revoked.refresh_token)).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
    expect((await refresh(kept.refresh_token)).status).toBe(200);
  });

  it('accepts client_secret_post and rejects a wrong client secret', async () => {
    const post = await tokenRequest(server, { grant_type: 'client_credentials' }, { auth: 'post' });
    expect(post.status).toBe(200);
    const wrong = await tokenRequest(
      server,
      { grant_type: 'client_credentials' },
      { secret: 'not-the-secret' },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
  });

  it('rotates refresh tokens: a refresh returns new tokens and the old refresh token dies', async () => {
    const first = await codeFlow(server, 'user@bodhi.test', 'user-pass');
    const refreshed = await tokenRequest(server, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token ?? '',
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).toEqual(expect.any(String));
    expect(refreshed.body.refresh_token).not.toBe(first.refresh_token);
    expect(refreshed.body.access_token).not.toBe(first.access_token);
    const claims = await verify(refreshed.body.access_token ?? '');
    expect(claims).toMatchObject({ sub: USER.sub, preferred_username: 'user@bodhi.test' });
    expect(roles(claims)).toEqual(['resource_user']);

    const replay = await tokenRequest(server, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token ?? '',
    });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
  });

  it('rejects an authorization request without PKCE', async () => {
    const authorizationUrl = buildAuthorizationUrl({
      issuer: server.issuer,
      clientId: CLIENT_ID,
      redirectUri: REDIRECT_URI,
      state: 'no-pkce',
    });
    const callback = await loginThroughForm({
      authorizationUrl,
      username: 'user@bodhi.test',
      password: 'user-pass',
    });
    expect(callback.searchParams.get('error')).toBe('invalid_request');
    expect(callback.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(callback.searchParams.get('code')).toBeNull();
    expect(callback.searchParams.get('state')).toBe('no-pkce');

    // Only S256 is accepted: a plain challenge is refused too.
    const plain = await loginThroughForm({
      authorizationUrl: buildAuthorizationUrl({
        issuer: server.issuer,
        clientId: CLIENT_ID,
        redirectUri: REDIRECT_URI,
        state: 'plain',
        extraParams: { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' },
      }),
      username: 'user@bodhi.test',
      password: 'user-pass',
    });
    expect(plain.searchParams.get('error')).toBe('invalid_request');
    expect(plain.searchParams.get('code')).toBeNull();
  });

  it('rejects a code exchanged with the wrong code_verifier', async () => {
    const { codeChallenge } = createPkcePair();
    const callback = await loginThroughForm({
      authorizationUrl: buildAuthorizationUrl({
        issuer: server.issuer,
        clientId: CLIENT_ID,
        redirectUri: REDIRECT_URI,
        state: 's',
        codeChallenge,
      }),
      username: 'user@bodhi.test',
      password: 'user-pass',
    });
    const tokens = await tokenRequest(server, {
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT_URI,
      code_verifier: createPkcePair().codeVerifier,
    });
    expect(tokens.status).toBe(400);
    expect(tokens.body.error).toBe('invalid_grant');
  });

  it('renders a labelled login form and re-renders it with an error for wrong credentials', async () => {
    const { codeChallenge } = createPkcePair();
    const jar = new CookieJar();
    const start = buildAuthorizationUrl({
      issuer: server.issuer,
      clientId: CLIENT_ID,
      redirectUri: REDIRECT_URI,
      state: 's',
      codeChallenge,
    });
    const toInteraction = await fetch(start, { redirect: 'manual' });
    jar.store(start, toInteraction);
    expect(toInteraction.status).toBe(303);
    const formUrl = new URL(toInteraction.headers.get('location') ?? '', start);
    expect(formUrl.pathname).toMatch(/^\/interaction\/[\w-]+$/);

    const form = await fetch(formUrl, { headers: { cookie: jar.headerFor(formUrl) ?? '' } });
    expect(form.status).toBe(200);
    const html = await form.text();
    expect(html).toContain(`<form method="post" action="${formUrl.pathname}/login"`);
    expect(html).toMatch(/<label for="username">Username<\/label>/);
    expect(html).toMatch(/<input id="username" name="username"/);
    expect(html).toMatch(/<label for="password">Password<\/label>/);
    expect(html).toMatch(/<input id="password" name="password" type="password"/);
    expect(html).toContain('<button type="submit">Sign in</button>');
    expect(html).not.toContain(LOGIN_ERROR);

    const loginUrl = new URL(`${formUrl.pathname}/login`, formUrl);
    const wrong = await fetch(loginUrl, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        cookie: jar.headerFor(loginUrl) ?? '',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ username: '<b>"x"</b>', password: 'nope' }),
    });
    expect(wrong.status).toBe(401);
    const again = await wrong.text();
    expect(again).toContain(LOGIN_ERROR);
    expect(again).toContain('value="&#60;b&#62;&#34;x&#34;&#60;/b&#62;"'); // escaped echo
    expect(again).not.toContain('<b>"x"</b>');

    // The helper reports the same refusal as an error.
    await expect(
      loginThroughForm({ authorizationUrl: start, username: 'user@bodhi.test', password: 'bad' }),
    ).rejects.toThrow(LoginFailedError);
  });

  it('answers an unknown interaction with a page, not a crash', async () => {
    const response = await fetch(`${server.issuer}/interaction/unknown-uid`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Start again from the application');
  });

  it('keeps the provider session: a second authorization with the same jar skips the form', async () => {
    const jar = new CookieJar();
    const url = () =>
      buildAuthorizationUrl({
        issuer: server.issuer,
        clientId: CLIENT_ID,
        redirectUri: REDIRECT_URI,
        state: 'sso',
        codeChallenge: createPkcePair().codeChallenge,
      });
    const first = await loginThroughForm({
      authorizationUrl: url(),
      username: 'admin@bodhi.test',
      password: 'admin-pass',
      jar,
    });
    expect(first.searchParams.get('code')).toBeTruthy();
    const second = await loginThroughForm({
      authorizationUrl: url(),
      username: 'ignored',
      password: 'ignored',
      jar,
    });
    expect(second.searchParams.get('code')).toBeTruthy();

    // prompt=consent and more scopes: still no consent screen, straight back with a code.
    const { codeVerifier, codeChallenge } = createPkcePair();
    const third = await loginThroughForm({
      authorizationUrl: buildAuthorizationUrl({
        issuer: server.issuer,
        clientId: CLIENT_ID,
        redirectUri: REDIRECT_URI,
        state: 'consent',
        codeChallenge,
        scope: 'openid email profile roles offline_access',
        extraParams: { prompt: 'consent' },
      }),
      username: 'ignored',
      password: 'ignored',
      jar,
    });
    const tokens = await tokenRequest(server, {
      grant_type: 'authorization_code',
      code: third.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT_URI,
      code_verifier: codeVerifier,
    });
    expect(tokens.status).toBe(200);
    expect(tokens.body.refresh_token).toEqual(expect.any(String));
    const claims = await verify(tokens.body.access_token ?? '');
    expect(claims.sub).toBe(ADMIN.sub);
    expect(String(claims.scope).split(' ').sort()).toEqual(['email', 'openid', 'profile', 'roles']);
  });

  describe('admin API', () => {
    it('refuses requests without a valid client-credentials token', async () => {
      const noToken = await fetch(`${server.issuer}/admin/users`);
      expect(noToken.status).toBe(401);
      expect(noToken.headers.get('www-authenticate')).toMatch(/^Bearer/);

      const garbage = await fetch(`${server.issuer}/admin/users`, {
        headers: { authorization: 'Bearer not-a-token' },
      });
      expect(garbage.status).toBe(401);

      // A user's access token of the same client is not a client-credentials token.
      const userTokens = await codeFlow(server, 'user@bodhi.test', 'user-pass');
      const asUser = await fetch(`${server.issuer}/admin/users/${USER.sub}/role`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${userTokens.access_token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ role: 'resource_admin' }),
      });
      expect(asUser.status).toBe(401);

      // A token signed by someone else.
      const token = await clientCredentialsToken(server);
      const [header, payload] = token.split('.');
      const forged = `${header}.${payload}.${Buffer.from('forged').toString('base64url')}`;
      const bad = await fetch(`${server.issuer}/admin/users`, {
        headers: { authorization: `Bearer ${forged}` },
      });
      expect(bad.status).toBe(401);
    });

    it('registers a redirect URI for the client once its server knows its port', async () => {
      const late = 'http://127.0.0.1:41234/ui/auth/callback';
      const authorizeWith = (redirectUri: string) =>
        loginThroughForm({
          authorizationUrl: buildAuthorizationUrl({
            issuer: server.issuer,
            clientId: CLIENT_ID,
            redirectUri,
            state: 'state',
            codeChallenge: createPkcePair().codeChallenge,
            scope: 'openid',
          }),
          username: 'user@bodhi.test',
          password: 'user-pass',
        });
      await expect(authorizeWith(late)).rejects.toThrow(/invalid_redirect_uri|400/);

      const register = (uri: unknown, client = CLIENT_ID, token?: string) =>
        fetch(`${server.issuer}/admin/clients/${encodeURIComponent(client)}/redirect-uris`, {
          method: 'POST',
          headers: {
            ...(token && { authorization: `Bearer ${token}` }),
            'content-type': 'application/json',
          },
          body: JSON.stringify({ redirect_uri: uri }),
        });
      expect((await register(late)).status).toBe(401);
      const token = await clientCredentialsToken(server);
      expect((await register(late, 'another-client', token)).status).toBe(404);
      for (const bad of [42, 'not a url', 'http://127.0.0.1:1/cb#fragment']) {
        const answer = await register(bad, CLIENT_ID, token);
        expect({ bad, status: answer.status }).toEqual({ bad, status: 400 });
      }

      // Servers registering at the same moment each keep their URI.
      const many = Array.from({ length: 8 }, (_, i) => `http://127.0.0.1:${42000 + i}/cb`);
      await Promise.all(many.map((uri) => register(uri, CLIENT_ID, token)));
      const answer = await register(late, CLIENT_ID, token);
      expect(answer.status).toBe(200);
      const { redirect_uris: uris } = (await answer.json()) as { redirect_uris: string[] };
      expect(uris).toEqual(expect.arrayContaining([REDIRECT_URI, late, ...many]));

      const callback = await authorizeWith(late);
      expect(`${callback.origin}${callback.pathname}`).toBe(late);
      expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    });

    it('counts grants by type, the successful and the refused apart', async () => {
      type Counts = Record<string, number>;
      const stats = async () => {
        const res = await fetch(`${server.issuer}/admin/stats`, {
          headers: { authorization: `Bearer ${await clientCredentialsToken(server)}` },
        });
        expect(res.status).toBe(200);
        return (await res.json()) as { grants: Counts; failed_grants: Counts };
      };
      const delta = (after: Counts, before: Counts, type: string) =>
        (after[type] ?? 0) - (before[type] ?? 0);
      expect((await fetch(`${server.issuer}/admin/stats`)).status).toBe(401);
      const before = await stats();
      const tokens = await codeFlow(server, 'user@bodhi.test', 'user-pass');
      await tokenRequest(server, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token ?? '',
      });
      await tokenRequest(server, {
        grant_type: 'refresh_token',
        refresh_token: 'not-a-refresh-token',
      });
      const after = await stats();
      expect(delta(after.grants, before.grants, 'authorization_code')).toBe(1);
      expect(delta(after.grants, before.grants, 'refresh_token')).toBe(1);
      // The stats call itself costs one client-credentials grant each time.
      expect(delta(after.grants, before.grants, 'client_credentials')).toBe(1);
      expect(delta(after.failed_grants, before.failed_grants, 'refresh_token')).toBe(1);
      expect(delta(after.failed_grants, before.failed_grants, 'authorization_code')).toBe(0);
    });

    it('lists users and changes a role, which the next refresh carries', async () => {
      const tokens = await codeFlow(server, 'admin@bodhi.test', 'admin-pass');
      expect(roles(await verify(tokens.access_token ?? ''))).toEqual(['resource_admin']);

      const admin = await clientCredentialsToken(server);
      const auth = { authorization: `Bearer ${admin}` };
      const list = await fetch(`${server.issuer}/admin/users`, { headers: auth });
      expect(list.status).toBe(200);
      expect(await list.json()).toEqual(
        expect.arrayContaining([
          { sub: USER.sub, username: USER.username, role: expect.any(String) },
          { sub: ADMIN.sub, username: ADMIN.username, role: 'resource_admin' },
        ]),
      );

      const put = (sub: string, body: unknown) =>
        fetch(`${server.issuer}/admin/users/${sub}/role`, {
          method: 'PUT',
          headers: { ...auth, 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        });

      const changed = await put(ADMIN.sub, { role: 'resource_manager' });
      expect(changed.status).toBe(200);
      expect(await changed.json()).toEqual({ sub: ADMIN.sub, role: 'resource_manager' });

      const refreshed = await tokenRequest(server, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token ?? '',
      });
      expect(refreshed.status).toBe(200);
      expect(roles(await verify(refreshed.body.access_token ?? ''))).toEqual(['resource_manager']);

      expect(
        (await put('00000000-0000-0000-0000-000000000000', { role: 'resource_user' })).status,
      ).toBe(404);
      expect((await put(ADMIN.sub, { role: 'superuser' })).status).toBe(400);
      expect((await put(ADMIN.sub, {})).status).toBe(400);
      expect((await put(ADMIN.sub, 'not json')).status).toBe(400);

      // setRole() of the in-process handle does the same.
      server.setRole(ADMIN.sub, 'resource_admin');
      expect(server.users().find((u) => u.sub === ADMIN.sub)?.role).toBe('resource_admin');
      expect(() => server.setRole('nobody', 'resource_user')).toThrow(/unknown user/);
    });

    it("logs a user out: every refresh token of the user's grants dies, other users' live", async () => {
      const auth = { authorization: `Bearer ${await clientCredentialsToken(server)}` };
      const logout = (sub: string) =>
        fetch(`${server.issuer}/admin/users/${sub}/logout`, { method: 'POST', headers: auth });
      // Earlier tests' logins of USER go first, so the count below is this test's own.
      expect((await logout(USER.sub)).status).toBe(200);

      const jar = new CookieJar();
      const first = await codeFlow(server, 'user@bodhi.test', 'user-pass', undefined, jar);
      const second = await codeFlow(server, 'user@bodhi.test', 'user-pass');
      const other = await codeFlow(server, 'admin@bodhi.test', 'admin-pass');

      const response = await logout(USER.sub);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ sub: USER.sub, grants_revoked: 2 });

      const refresh = (token?: string) =>
        tokenRequest(server, { grant_type: 'refresh_token', refresh_token: token ?? '' });
      for (const revoked of [first, second]) {
        expect(await refresh(revoked.refresh_token)).toMatchObject({
          status: 400,
          body: { error: 'invalid_grant' },
        });
      }
      expect((await refresh(other.refresh_token)).status).toBe(200);
      expect(await (await logout(USER.sub)).json()).toEqual({ sub: USER.sub, grants_revoked: 0 });

      // The browser session at the provider stays: a login from it skips the form and gets a
      // new grant, whose refresh token works.
      const again = await codeFlow(server, 'ignored', 'ignored', undefined, jar);
      expect((await verify(again.access_token ?? '')).sub).toBe(USER.sub);
      expect((await refresh(again.refresh_token)).status).toBe(200);
    });

    it('answers logout of an unknown user with 404, and only to POST with a client token', async () => {
      const auth = { authorization: `Bearer ${await clientCredentialsToken(server)}` };
      const unknown = await fetch(
        `${server.issuer}/admin/users/00000000-0000-0000-0000-000000000000/logout`,
        { method: 'POST', headers: auth },
      );
      expect(unknown.status).toBe(404);
      const get = await fetch(`${server.issuer}/admin/users/${USER.sub}/logout`, { headers: auth });
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');

      const { access_token } = await codeFlow(server, 'user@bodhi.test', 'user-pass');
      const asUser = await fetch(`${server.issuer}/admin/users/${USER.sub}/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}` },
      });
      expect(asUser.status).toBe(401);
    });
  });

  it('honours the configured access-token TTL', async () => {
    const tokens = await codeFlow(server, 'user@bodhi.test', 'user-pass');
    expect(tokens.expires_in).toBe(2);
    const user = decodeJwt(tokens.access_token ?? '');
    expect((user.exp ?? 0) - (user.iat ?? 0)).toBe(2);

    const client = decodeJwt(await clientCredentialsToken(server));
    expect(client.sub).toBe(CLIENT_ID);
    // A client-credentials token lives a minute at least: a caller on a loaded machine must
    // not see it expire between the token endpoint and the admin API.
    expect((client.exp ?? 0) - (client.iat ?? 0)).toBe(60);

    const refreshed = await tokenRequest(server, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token ?? '',
    });
    const again = decodeJwt(refreshed.body.access_token ?? '');
    expect((again.exp ?? 0) - (again.iat ?? 0)).toBe(2);
  });
});

describe('dev-auth-server signing keys', () => {
  it('keeps its key in DEV_AUTH_KEYS_FILE across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dev-auth-keys-'));
    const keysFile = join(dir, 'keys.json');
    const kid = async () => {
      const server = await createDevAuthServer({ port: 0, keysFile });
      try {
        const jwks = (await (await fetch(`${server.issuer}/jwks`)).json()) as {
          keys: { kid: string }[];
        };
        return jwks.keys[0].kid;
      } finally {
        await server.close();
      }
    };
    try {
      const first = await kid();
      expect(await kid()).toBe(first);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('generates a fresh key per start without a keys file', async () => {
    const a = await createDevAuthServer({ port: 0 });
    const b = await createDevAuthServer({ port: 0 });
    try {
      const kidOf = async (s: DevAuthServer) =>
        ((await (await fetch(`${s.issuer}/jwks`)).json()) as { keys: { kid: string }[] }).keys[0]
          .kid;
      expect(await kidOf(a)).not.toBe(await kidOf(b));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
