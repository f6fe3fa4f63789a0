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
    fs.writeFileSync(usersFile, JSON.stringify({ users: [USER] }));
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

  it('changes a role at the provider, which the next refresh shows; an unknown user is refused', async () => {
    const request = await auth.authorizationRequest(REDIRECT_URI);
    const callback = await loginThroughForm({
      authorizationUrl: request.url,
      username: USER.username,
      password: USER.password,
    });
    const checks = { state: request.state, pkceVerifier: request.pkceVerifier };
    const response = Object.fromEntries(callback.searchParams);
    const tokens = await auth.exchangeCode(REDIRECT_URI, response, checks);
    await admin.setUserRole(USER.sub, 'resource_manager');
    const refreshed = await auth.refresh(tokens.refreshToken as string);
    const { claims } = await auth.verifyAccessToken(refreshed.accessToken);
    expect(claims.resource_access?.[CLIENT_ID]?.roles).toEqual(['resource_manager']);
    expect(auth.roleOf(claims)).toBe('resource_manager');

    await expect(admin.setUserRole('no-such-user', 'resource_user')).rejects.toThrow(
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
      await expect(
        adapterFor(down.issuer).admin.setUserRole(USER.sub, 'resource_user'),
      ).rejects.toThrow(AuthProviderUnavailableError);
    } finally {
      warn.mockRestore();
    }
  });
});
