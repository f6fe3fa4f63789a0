import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Test } from '@nestjs/testing';
import { tempHome, type TempHome } from '@bodhi/testing';
import { InvalidSettingsError } from './config-issue.js';
import { parseSettings } from './setting.schema.js';
import { SettingService } from './setting.service.js';
import { SettingsModule } from './settings.module.js';

const SECRET = 'x'.repeat(40);
const KEY = Buffer.alloc(32, 1).toString('base64');

describe('settings', () => {
  let scratch: TempHome;
  /** Not there yet: settings create BODHI_HOME. */
  let home: string;
  beforeEach(() => {
    scratch = tempHome('bodhi-settings-');
    home = path.join(scratch.dir, 'home');
  });
  afterEach(() => scratch.remove());

  const service = async (env: Record<string, string | undefined>) => {
    const moduleRef = await Test.createTestingModule({
      imports: [SettingsModule.forRoot({ env })],
    }).compile();
    return moduleRef.get(SettingService);
  };

  it('defaults: SQLite under BODHI_HOME (created), standalone, http, 180-minute TTL', async () => {
    const s = await service({ BODHI_HOME: home });
    expect(fs.statSync(home).isDirectory()).toBe(true);
    expect(s.server.home).toBe(home);
    expect(s.session.url).toBe(`sqlite:${home}/session.sqlite`);
    expect(s.server.deployment).toBe('standalone');
    expect(s.server.publicScheme).toBe('http');
    expect(s.session.ttlSeconds).toBe(10800);
    expect(s.session.pruneIntervalSeconds).toBe(60);
    expect(s.session.tableName).toBe('bodhi_sessions');
    expect(s.session.schema).toBeUndefined();
    expect(s.session.encryptionKeys).toEqual([]);
    expect(s.session.maxDataBytes).toBe(65536);
  });

  it('reports each problem as a structured issue naming its variable', () => {
    let error: unknown;
    try {
      parseSettings({
        BODHI_PORT: 'http',
        BODHI_SESSION_DB_TABLE: 'x;y',
        BODHI_AUTH_URL: 'ftp://a',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidSettingsError);
    expect((error as InvalidSettingsError).issues).toEqual([
      { variable: 'BODHI_PORT', message: 'must be a port number (0-65535)' },
      { variable: 'BODHI_AUTH_URL', message: 'must be an http(s) URL' },
      {
        variable: 'BODHI_SESSION_DB_TABLE',
        message: expect.stringMatching(/^must be a plain SQL name/),
      },
    ]);
  });

  it('defaults BODHI_HOME to ~/.cache/bodhi', () => {
    expect(parseSettings({}).server.home).toBe(path.join(os.homedir(), '.cache', 'bodhi'));
  });

  it('reads every variable and treats blank values as unset', async () => {
    const s = await service({
      BODHI_HOME: home,
      BODHI_SESSION_DB_URL: 'postgres://u:p@db/sessions',
      BODHI_DEPLOYMENT: 'cluster',
      BODHI_PUBLIC_SCHEME: 'https',
      BODHI_SESSION_SECRET: SECRET,
      BODHI_SESSION_ENCRYPTION_KEYS: ` ${KEY} , ${Buffer.alloc(32, 2).toString('base64')}`,
      BODHI_SESSION_MAX_BYTES: '4096',
      BODHI_SESSION_TTL_SECONDS: '600',
      BODHI_SESSION_PRUNE_INTERVAL_SECONDS: '5',
      BODHI_SESSION_TOUCH_AFTER_SECONDS: '0',
      BODHI_SESSION_DB_TABLE: 'my_sessions',
      BODHI_SESSION_DB_SCHEMA: '  ',
    });
    expect(s.session.url).toBe('postgres://u:p@db/sessions');
    expect(s.server.deployment).toBe('cluster');
    expect(s.server.publicScheme).toBe('https');
    expect(s.sessionSecret()).toBe(SECRET);
    expect(s.session.ttlSeconds).toBe(600);
    expect(s.session.pruneIntervalSeconds).toBe(5);
    expect(s.session.touchAfterSeconds).toBe(0);
    expect(s.session.tableName).toBe('my_sessions');
    expect(s.session.schema).toBeUndefined();
    expect(s.session.encryptionKeys).toEqual([KEY, Buffer.alloc(32, 2).toString('base64')]);
    expect(s.session.maxDataBytes).toBe(4096);
  });

  it('public URL defaults to the bind address; auth settings are required when asked for', async () => {
    const s = await service({ BODHI_HOME: home });
    expect(s.server.host).toBe('localhost');
    expect(s.server.port).toBe(1135);
    expect(s.publicUrl()).toBe('http://localhost:1135');
    // Told where it listens, a server on a fixed port keeps its configured public URL...
    s.listening(4000);
    expect(s.publicUrl()).toBe('http://localhost:1135');
    // ...and one on port 0 gets the port the kernel gave it.
    const any = await service({ BODHI_HOME: home, BODHI_HOST: '127.0.0.1', BODHI_PORT: '0' });
    any.listening(41234);
    expect(any.publicUrl()).toBe('http://127.0.0.1:41234');
    expect(s.server.envType).toBe('production');
    // Production logs JSON lines for a pipeline; metrics are served only when asked for.
    expect(s.server).toMatchObject({ logFormat: 'json', metrics: 'off' });
    expect(s.server.metricsPort).toBeUndefined();
    expect(() => s.auth).toThrow(
      /BODHI_AUTH_URL is required.*BODHI_AUTH_CLIENT_ID is required.*BODHI_AUTH_CLIENT_SECRET is required/,
    );
    const t = await service({
      BODHI_HOME: home,
      BODHI_PUBLIC_SCHEME: 'https',
      BODHI_PUBLIC_HOST: 'bodhi.example',
      BODHI_PUBLIC_PORT: '443',
      BODHI_AUTH_URL: 'https://idp.example/realms/bodhi',
      BODHI_AUTH_CLIENT_ID: 'c',
      BODHI_AUTH_CLIENT_SECRET: 's',
      BODHI_ENV_TYPE: 'development',
    });
    expect(t.publicUrl()).toBe('https://bodhi.example');
    expect(t.isDevelopment()).toBe(true);
    expect(t.server.logFormat).toBe('pretty');
    expect(t.auth).toEqual({
      issuer: 'https://idp.example/realms/bodhi',
      clientId: 'c',
      clientSecret: 's',
      // No admin API unless one is named: role changes are refused, not sent anywhere.
      adminApi: 'none',
      tokenAlgorithms: ['RS256'],
      timeoutMs: 5000,
    });
  });

  it.each(['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0'])(
    'stops boot on a wildcard BODHI_HOST (%s) with no name for browsers to use',
    (host) => {
      let error: unknown;
      try {
        parseSettings({ BODHI_HOST: host });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidSettingsError);
      expect((error as InvalidSettingsError).issues).toEqual([
        {
          variable: 'BODHI_PUBLIC_HOST',
          message: expect.stringMatching(
            /^is required when BODHI_HOST is a wildcard address .*BODHI_ALLOWED_HOSTS/,
          ),
        },
      ]);
    },
  );

  it('boots on a wildcard BODHI_HOST given BODHI_PUBLIC_HOST or BODHI_ALLOWED_HOSTS', () => {
    const wildcard = { BODHI_HOST: '0.0.0.0' };
    expect(parseSettings({ ...wildcard, BODHI_PUBLIC_HOST: 'b.example' }).server.publicHost).toBe(
      'b.example',
    );
    expect(parseSettings({ ...wildcard, BODHI_ALLOWED_HOSTS: 'b.example' }).server.host).toBe(
      '0.0.0.0',
    );
    expect(parseSettings({ BODHI_HOST: '0.0.0.1' }).server.publicHost).toBe('0.0.0.1');
  });

  it('generates a standalone cookie secret once, keeps it in BODHI_HOME with mode 600', async () => {
    const first = (await service({ BODHI_HOME: home })).sessionSecret();
    const file = path.join(home, 'session_secret');
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect((await service({ BODHI_HOME: home })).sessionSecret()).toBe(first);
  });

  it('generates a standalone session encryption key once, keeps it in BODHI_HOME with mode 600', async () => {
    const file = path.join(home, 'session_encryption_key');
    // Under the usual umask, so that mode 600 is the service's doing.
    const umask = process.umask(0o022);
    let s: SettingService;
    let keys: string[];
    try {
      s = await service({ BODHI_HOME: home });
      // Made when first asked for.
      expect(fs.existsSync(file)).toBe(false);
      keys = s.sessionEncryptionKeys();
    } finally {
      process.umask(umask);
    }
    const [key, ...more] = keys;
    expect(more).toEqual([]);
    // 32 random bytes, base64: a key the store accepts.
    expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    expect(fs.readFileSync(file, 'utf8')).toBe(key);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // The same key for the life of the service, and for the next service over the same home.
    expect(s.sessionEncryptionKeys()).toEqual([key]);
    expect((await service({ BODHI_HOME: home })).sessionEncryptionKeys()).toEqual([key]);
    expect(fs.readFileSync(file, 'utf8')).toBe(key);
    // Not the cookie secret, and not another home's key.
    expect(key).not.toBe(Buffer.from(s.sessionSecret(), 'hex').toString('base64'));
    const other = path.join(scratch.dir, 'other-home');
    expect((await service({ BODHI_HOME: other })).sessionEncryptionKeys()).not.toEqual([key]);
  });

  it('never reads a half-made key: an empty key file stops boot naming it; no draft is left', async () => {
    const file = path.join(home, 'session_encryption_key');
    const s = await service({ BODHI_HOME: home });
    fs.writeFileSync(file, '');
    expect(() => s.sessionEncryptionKeys()).toThrow(`${file} is empty`);
    fs.rmSync(file);
    expect(s.sessionEncryptionKeys()).toHaveLength(1);
    expect(fs.readdirSync(home).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('returns configured encryption keys as they are, generating none', async () => {
    const second = Buffer.alloc(32, 2).toString('base64');
    const s = await service({
      BODHI_HOME: home,
      BODHI_SESSION_ENCRYPTION_KEYS: `${KEY},${second}`,
    });
    expect(s.sessionEncryptionKeys()).toEqual([KEY, second]);
    expect(fs.existsSync(path.join(home, 'session_encryption_key'))).toBe(false);
    const cluster = await service({
      BODHI_HOME: home,
      BODHI_DEPLOYMENT: 'cluster',
      BODHI_SESSION_DB_URL: 'postgres://u:p@db/sessions',
      BODHI_SESSION_SECRET: SECRET,
      BODHI_SESSION_ENCRYPTION_KEYS: KEY,
    });
    expect(cluster.sessionEncryptionKeys()).toEqual([KEY]);
    expect(fs.existsSync(path.join(home, 'session_encryption_key'))).toBe(false);
  });

  it.each([
    [{ BODHI_DEPLOYMENT: 'swarm' }, 'BODHI_DEPLOYMENT'],
    [{ BODHI_PUBLIC_SCHEME: 'ftp' }, 'BODHI_PUBLIC_SCHEME'],
    [{ BODHI_SESSION_DB_URL: 'mysql://root:hunter22@db/x' }, 'BODHI_SESSION_DB_URL'],
    [{ BODHI_SESSION_TTL_SECONDS: 'soon' }, 'BODHI_SESSION_TTL_SECONDS'],
    [{ BODHI_SESSION_TTL_SECONDS: '-5' }, 'BODHI_SESSION_TTL_SECONDS'],
    [{ BODHI_SESSION_PRUNE_INTERVAL_SECONDS: '1.5' }, 'BODHI_SESSION_PRUNE_INTERVAL_SECONDS'],
    [{ BODHI_SESSION_TOUCH_AFTER_SECONDS: '-1' }, 'BODHI_SESSION_TOUCH_AFTER_SECONDS'],
    [{ BODHI_SESSION_DB_TABLE: 'x; drop table y' }, 'BODHI_SESSION_DB_TABLE'],
    [{ BODHI_SESSION_DB_SCHEMA: '1abc' }, 'BODHI_SESSION_DB_SCHEMA'],
    [{ BODHI_SESSION_SECRET: 'hunter22' }, 'BODHI_SESSION_SECRET'],
    [{ BODHI_PORT: 'http' }, 'BODHI_PORT'],
    [{ BODHI_PORT: '70000' }, 'BODHI_PORT'],
    [{ BODHI_PUBLIC_PORT: '-1' }, 'BODHI_PUBLIC_PORT'],
    [{ BODHI_HOST: 'bad host' }, 'BODHI_HOST'],
    [{ BODHI_ENV_TYPE: 'staging' }, 'BODHI_ENV_TYPE'],
    [{ BODHI_LOG_LEVEL: 'loud' }, 'BODHI_LOG_LEVEL'],
    [{ BODHI_LOG_FORMAT: 'xml' }, 'BODHI_LOG_FORMAT'],
    [{ BODHI_METRICS: 'yes' }, 'BODHI_METRICS'],
    [{ BODHI_METRICS: 'on', BODHI_METRICS_PORT: 'prom' }, 'BODHI_METRICS_PORT'],
    [{ BODHI_METRICS_PORT: '9464' }, 'BODHI_METRICS_PORT'],
    [{ BODHI_METRICS: 'on', BODHI_PORT: '9464', BODHI_METRICS_PORT: '9464' }, 'BODHI_METRICS_PORT'],
    [{ BODHI_AUTH_URL: 'ftp://idp' }, 'BODHI_AUTH_URL'],
    [{ BODHI_AUTH_ADMIN_API: 'keycloak' }, 'BODHI_AUTH_ADMIN_API'],
    [{ BODHI_DEPLOYMENT: 'cluster', BODHI_SESSION_SECRET: SECRET }, 'BODHI_SESSION_DB_URL'],
    [
      {
        BODHI_DEPLOYMENT: 'cluster',
        BODHI_SESSION_SECRET: SECRET,
        BODHI_SESSION_DB_URL: 'sqlite:/tmp/x.db',
      },
      'BODHI_SESSION_DB_URL',
    ],
    [
      { BODHI_DEPLOYMENT: 'cluster', BODHI_SESSION_DB_URL: 'postgres://u:hunter22@db/x' },
      'BODHI_SESSION_SECRET',
    ],
  ])('stops boot on %j naming %s, never echoing secrets', async (env, variable) => {
    const error = await service({ BODHI_HOME: home, ...env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidSettingsError);
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`^Invalid configuration: .*${variable} `));
    expect(message).not.toContain('hunter22');
    expect(message).not.toContain('aHVudGVyMjI');
    expect(fs.existsSync(home)).toBe(false);
  });
});
