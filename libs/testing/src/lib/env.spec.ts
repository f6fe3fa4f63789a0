import { describe, expect, it } from '@jest/globals';
import {
  identityProviderEnv,
  serverEnv,
  TEST_AUTH_RATE_LIMIT,
  testSettings,
  UNREACHABLE_PROVIDER,
} from './env.js';
import { TEST_ENCRYPTION_KEY, TEST_SECRET } from './session-db.js';
import { tempHome } from './workspace.js';

describe('serverEnv', () => {
  it('spells out a test server: home, loopback port, provider, session database, secret, log level', () => {
    expect(
      serverEnv({
        home: '/tmp/home',
        port: 4100,
        provider: { issuer: 'http://127.0.0.1:4200', clientId: 'bodhi-server', clientSecret: 's3' },
        db: { url: 'postgres://u:p@localhost:54320/db', table: 'sessions', schema: 't_1' },
        secret: 'secret-0123456789abcdef0123456789ab',
        logLevel: 'warn',
      }),
    ).toStrictEqual({
      BODHI_HOME: '/tmp/home',
      BODHI_HOST: '127.0.0.1',
      BODHI_PORT: '4100',
      BODHI_AUTH_URL: 'http://127.0.0.1:4200',
      BODHI_AUTH_CLIENT_ID: 'bodhi-server',
      BODHI_AUTH_CLIENT_SECRET: 's3',
      BODHI_AUTH_ADMIN_API: 'dev-auth-server',
      BODHI_SESSION_DB_URL: 'postgres://u:p@localhost:54320/db',
      BODHI_SESSION_DB_TABLE: 'sessions',
      BODHI_SESSION_DB_SCHEMA: 't_1',
      BODHI_SESSION_SECRET: 'secret-0123456789abcdef0123456789ab',
      BODHI_LOG_LEVEL: 'warn',
      BODHI_AUTH_RATE_LIMIT: String(TEST_AUTH_RATE_LIMIT),
    });
  });

  it('a server on a test port takes many logins from one address; a test may ask for fewer', () => {
    expect(serverEnv({ port: 0 })).toMatchObject({ BODHI_AUTH_RATE_LIMIT: '100000' });
    expect(serverEnv({ port: 0, authRateLimit: 3 })).toMatchObject({ BODHI_AUTH_RATE_LIMIT: '3' });
    expect(serverEnv({ authRateLimit: 0 })).toStrictEqual({ BODHI_AUTH_RATE_LIMIT: '0' });
    // npm start names no port: its server keeps the production limit.
    expect(serverEnv({})).not.toHaveProperty('BODHI_AUTH_RATE_LIMIT');
  });

  it('sets only what is given, so the caller’s environment shows through for the rest', () => {
    expect(serverEnv({})).toStrictEqual({});
    // A SQLite test database has no schema: the variable is left out, not set empty.
    expect(serverEnv({ db: { url: 'sqlite:/tmp/s.sqlite', table: 'sessions' } })).toStrictEqual({
      BODHI_SESSION_DB_URL: 'sqlite:/tmp/s.sqlite',
      BODHI_SESSION_DB_TABLE: 'sessions',
    });
  });

  it('a cluster gets a shared secret; either gets the test encryption key, so rows stay readable', () => {
    expect(serverEnv({ deployment: 'cluster' })).toStrictEqual({
      BODHI_DEPLOYMENT: 'cluster',
      BODHI_SESSION_SECRET: TEST_SECRET,
      BODHI_SESSION_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEY,
    });
    expect(serverEnv({ deployment: 'cluster', secret: 'own-secret' })).toMatchObject({
      BODHI_SESSION_SECRET: 'own-secret',
    });
    // Not a key of its own the server would generate: the kit's, which a test can read with.
    expect(serverEnv({ deployment: 'standalone' })).toStrictEqual({
      BODHI_DEPLOYMENT: 'standalone',
      BODHI_SESSION_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEY,
    });
  });

  it('applies further settings last: they win, and undefined unsets one', () => {
    expect(
      serverEnv({
        logLevel: 'warn',
        env: {
          BODHI_LOG_LEVEL: 'trace',
          BODHI_ENV_TYPE: 'development',
          BODHI_SESSION_ENCRYPTION_KEYS: undefined,
        },
      }),
    ).toStrictEqual({
      BODHI_LOG_LEVEL: 'trace',
      BODHI_ENV_TYPE: 'development',
      BODHI_SESSION_ENCRYPTION_KEYS: undefined,
    });
  });
});

describe('testSettings', () => {
  it('serves the settings serverEnv spells out, as the server would read them', () => {
    const home = tempHome();
    try {
      const settings = testSettings({ home: home.dir, provider: UNREACHABLE_PROVIDER });
      expect(settings.server.home).toBe(home.dir);
      expect(settings.auth).toEqual({
        ...UNREACHABLE_PROVIDER,
        adminApi: 'dev-auth-server',
        tokenAlgorithms: ['RS256'],
        timeoutMs: 5000,
      });
    } finally {
      home.remove();
    }
  });
});

describe('identityProviderEnv', () => {
  it('binds the loopback on a port the kernel picks, the issuer left to the provider (its bound address)', () => {
    expect(identityProviderEnv({})).toStrictEqual({
      DEV_AUTH_PORT: '0',
      DEV_AUTH_HOST: '127.0.0.1',
    });
  });

  it('passes every setting given', () => {
    expect(
      identityProviderEnv({
        port: 4200,
        clientId: 'bodhi-server',
        clientSecret: 's3',
        redirectUris: [
          'http://127.0.0.1:1/ui/auth/callback',
          'http://127.0.0.1:2/ui/auth/callback',
        ],
        accessTokenTtlSeconds: 2,
      }),
    ).toStrictEqual({
      DEV_AUTH_PORT: '4200',
      DEV_AUTH_HOST: '127.0.0.1',
      DEV_AUTH_CLIENT_ID: 'bodhi-server',
      DEV_AUTH_CLIENT_SECRET: 's3',
      DEV_AUTH_REDIRECT_URIS:
        'http://127.0.0.1:1/ui/auth/callback,http://127.0.0.1:2/ui/auth/callback',
      DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS: '2',
    });
  });

  it('leaves the client and token lifetime to the provider’s defaults when not given', () => {
    expect(
      identityProviderEnv({
        port: 8090,
        issuer: 'http://localhost:8090',
        redirectUris: ['http://localhost:1135/ui/auth/callback'],
      }),
    ).toStrictEqual({
      DEV_AUTH_PORT: '8090',
      DEV_AUTH_HOST: '127.0.0.1',
      DEV_AUTH_ISSUER: 'http://localhost:8090',
      DEV_AUTH_REDIRECT_URIS: 'http://localhost:1135/ui/auth/callback',
    });
  });
});
