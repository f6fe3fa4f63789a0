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
import type { Role } from './auth.constants.js';
import { AuthGrantRejectedError, AuthProviderUnavailableError } from './auth.errors.js';
import { AuthService } from './auth.service.js';
import { DevAuthServerAdmin } from './dev-auth-server-admin.js';

const REDIRECT_URI = 'http://localhost:1135/ui/auth/callback';
const USER = {
  sub: '0b8e6f0e-3c1a-4f47-9d0e-6a2f5c7d9e01',
  username: 'rita@bodhi.test',
  password: 'rita-pass',
  email: 'rita@bodhi.test',
  given_name: 'Rita',
  family_name: 'Role',
  role: 'resource_user',
};
const OTHER = {
  sub: '0b8e6f0e-3c1a-4f47-9d0e-6a2f5c7d9e02',
  username: 'otto@bodhi.test',
  password: 'otto-pass',
  email: 'otto@bodhi.test',
  given_name: 'Otto',
  family_name: 'Other',
  role: 'resource_user',
};

describe('DevAuthServerAdmin against the development identity provider', () => {
  let home: TempHome;
  let idp: DevAuthServer;
  let auth: AuthService;
  let admin: DevAuthServerAdmin;

  /** The admin adapter, and the AuthService it gets its tokens from, for `issuer`. */
  function adapterFor(issuer: string): { auth: AuthService; admin: DevAuthServerAdmin } {
    const service = new AuthService(
      testSettings({
        home: home.dir,
        provider: { issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      }),
    );
    return { auth: service, admin: new DevAuthServerAdmin(service) };
  }

  beforeAll(async () => {
    home = tempHome('bodhi-idp-admin-');
    const usersFile = path.join(home.dir, 'users.json');
    fs.writeFileSync(usersFile, JSON.stringify({ users: [USER, OTHER] }));
    idp = await createDevAuthServer({
      port: 0,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [REDIRECT_URI],
      usersFile,
      keysFile: path.join(home.dir, 'keys.json'),
    });
    ({ auth, admin } = adapterFor(idp.issuer));
  });
  afterAll(async () => {
    await idp?.close();
    home?.remove();
  });

  /** A login of `who` through the provider's form: its tokens. */
  async function login(who: { username: string; password: string }) {
    const request = await auth.authorizationRequest(REDIRECT_URI);
    const callback = await loginThroughForm({ authorizationUrl: request.url, ...who });
    const checks = { state: request.state, pkceVerifier: request.pkceVerifier };
    return auth.exchangeCode(REDIRECT_URI, Object.fromEntries(callback.searchParams), checks);
  }

  it('changes a role at the provider, which the next refresh shows; an unknown user is refused', async () => {
    const tokens = await login(USER);
    await admin.setUserRole(USER.sub, 'resource_manager');
    const refreshed = await auth.refresh(tokens.refreshToken as string);
    const { claims } = await auth.verifyAccessToken(refreshed.accessToken);
    expect(claims.resource_access?.[CLIENT_ID]?.roles).toEqual(['resource_manager']);
    expect(auth.roleOf(claims)).toBe('resource_manager');

    await expect(admin.setUserRole('no-such-user', 'resource_user')).rejects.toThrow(
      new AuthGrantRejectedError('user no-such-user is unknown to the identity provider'),
    );
  });

  it("ends every grant of a user at the provider: the user's refresh tokens die, others' live", async () => {
    const first = await login(USER);
    const second = await login(USER);
    const other = await login(OTHER);
    await admin.revokeUserGrants(USER.sub);
    for (const { refreshToken } of [first, second]) {
      await expect(auth.refresh(refreshToken as string)).rejects.toThrow(
        new AuthGrantRejectedError('refresh rejected by the identity provider: invalid_grant'),
      );
    }
    expect((await auth.refresh(other.refreshToken as string)).accessToken).toEqual(
      expect.any(String),
    );

    await expect(admin.revokeUserGrants('no-such-user')).rejects.toThrow(
      new AuthGrantRejectedError('user no-such-user is unknown to the identity provider'),
    );
  });

  it('reports any other refusal of the provider as unavailable, with its status', async () => {
    // Only a role the provider does not know gets past the type; it answers 400.
    await expect(admin.setUserRole(USER.sub, 'king' as Role)).rejects.toThrow(
      new AuthProviderUnavailableError('identity provider refused the role change (HTTP 400)'),
    );
  });

  it('reports a provider that does not answer as unavailable', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const down = await createDevAuthServer({
      port: 0,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [REDIRECT_URI],
    });
    await down.close();
    try {
      const { admin: unreachable } = adapterFor(down.issuer);
      await expect(unreachable.setUserRole(USER.sub, 'resource_user')).rejects.toThrow(
        AuthProviderUnavailableError,
      );
      await expect(unreachable.revokeUserGrants(USER.sub)).rejects.toThrow(
        AuthProviderUnavailableError,
      );
    } finally {
      warn.mockRestore();
    }
  });
});
