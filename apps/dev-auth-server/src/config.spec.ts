import { describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';

import { ConfigError, DEFAULT_USERS_FILE, loadConfig, resolveIssuer } from './config.js';

describe('loadConfig', () => {
  it('has defaults for everything', () => {
    const config = loadConfig({});
    expect(config).toEqual({
      port: 8090,
      host: '127.0.0.1',
      issuer: undefined,
      clientId: 'bodhi-server',
      clientSecret: 'bodhi-dev-secret-change-me',
      redirectUris: ['http://localhost:1135/ui/auth/callback'],
      postLogoutRedirectUris: [],
      accessTokenTtlSeconds: 300,
      usersFile: DEFAULT_USERS_FILE,
      keysFile: undefined,
    });
    expect(resolveIssuer(config, 8090)).toBe('http://127.0.0.1:8090');
  });

  it('names the issuer after the address it binds, so clients dial that very listener', () => {
    expect(resolveIssuer({ issuer: undefined, host: '::1' }, 41234)).toBe('http://[::1]:41234');
    expect(resolveIssuer({ issuer: undefined, host: '0.0.0.0' }, 8090)).toBe(
      'http://localhost:8090',
    );
    expect(resolveIssuer({ issuer: undefined, host: 'localhost' }, 8090)).toBe(
      'http://localhost:8090',
    );
  });

  it('finds the committed users file whatever the working directory', () => {
    expect(DEFAULT_USERS_FILE).toMatch(/apps[/\\]dev-auth-server[/\\]users\.json$/);
    expect(existsSync(DEFAULT_USERS_FILE)).toBe(true);
  });

  it('reads every variable, treating blank values as unset', () => {
    const config = loadConfig({
      DEV_AUTH_PORT: '0',
      DEV_AUTH_HOST: '0.0.0.0',
      DEV_AUTH_ISSUER: 'http://auth.localhost:9000/',
      DEV_AUTH_CLIENT_ID: 'my-client',
      DEV_AUTH_CLIENT_SECRET: 's3cret',
      DEV_AUTH_REDIRECT_URIS: 'http://a.test/cb, https://b.test/cb',
      DEV_AUTH_POST_LOGOUT_REDIRECT_URIS: 'http://a.test/',
      DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS: '2',
      DEV_AUTH_USERS_FILE: '/tmp/users.json',
      DEV_AUTH_KEYS_FILE: '/tmp/keys.json',
    });
    expect(config).toEqual({
      port: 0,
      host: '0.0.0.0',
      issuer: 'http://auth.localhost:9000',
      clientId: 'my-client',
      clientSecret: 's3cret',
      redirectUris: ['http://a.test/cb', 'https://b.test/cb'],
      postLogoutRedirectUris: ['http://a.test/'],
      accessTokenTtlSeconds: 2,
      usersFile: '/tmp/users.json',
      keysFile: '/tmp/keys.json',
    });
    expect(resolveIssuer(config, 1234)).toBe('http://auth.localhost:9000');
    expect(loadConfig({ DEV_AUTH_PORT: '  ', DEV_AUTH_CLIENT_ID: '' }).port).toBe(8090);
  });

  it.each([
    ['DEV_AUTH_PORT', '65536'],
    ['DEV_AUTH_PORT', '-1'],
    ['DEV_AUTH_PORT', '80a'],
    ['DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS', '0'],
    ['DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS', '1.5'],
    ['DEV_AUTH_ISSUER', 'localhost:8090'],
    ['DEV_AUTH_ISSUER', 'ftp://localhost'],
    ['DEV_AUTH_ISSUER', 'http://localhost:8090/realms/bodhi'],
    ['DEV_AUTH_REDIRECT_URIS', 'not a url'],
    ['DEV_AUTH_REDIRECT_URIS', ','],
    ['DEV_AUTH_REDIRECT_URIS', 'http://a.test/cb#frag'],
    ['DEV_AUTH_CLIENT_ID', 'has space'],
  ])('rejects %s=%j with one message naming the variable', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(new RegExp(`^${name} `));
    expect((error as Error).message).not.toContain(value.trim());
  });
});
