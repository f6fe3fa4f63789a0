// Settings of the development OpenID Connect provider, read from DEV_AUTH_* environment
// variables. A bad value stops the process with one message naming the variable (main.ts
// prints it and exits non-zero); blank values count as unset, as everywhere in this repo.
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface DevAuthConfig {
  /** TCP port to listen on; 0 picks any free port (tests). */
  port: number;
  /** Interface to bind. */
  host: string;
  /**
   * Issuer identifier; undefined means `http://<host>:<actual port>`, the address it binds
   * (`localhost` for a wildcard host), so clients dial the very listener that answers.
   */
  issuer: string | undefined;
  /** The one confidential client: the BodhiApp server. */
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /**
   * Lifetime of users' access tokens (authorization code and refresh grants); client
   * credentials tokens live at least MIN_CLIENT_CREDENTIALS_TTL_SECONDS (provider.ts).
   */
  accessTokenTtlSeconds: number;
  /** JSON file with the demo users (see users.ts). */
  usersFile: string;
  /** Where to keep the signing key across restarts; undefined = a fresh key every start. */
  keysFile: string | undefined;
}

/** The committed demo users, found next to the app whatever the working directory is. */
// src/config.ts and dist/config.js both sit one level below the app root.
export const DEFAULT_USERS_FILE = fileURLToPath(new URL('../users.json', import.meta.url));

export const DEFAULT_CONFIG: Readonly<DevAuthConfig> = Object.freeze({
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

/**
 * What the provider sends its parent process over the IPC channel, when it was started with
 * one, once it listens: where it is. A test kit that starts it on port 0 waits for this
 * instead of guessing a port.
 */
export const PROVIDER_LISTENING = 'dev-auth-server:listening';
export interface ProviderListening {
  type: typeof PROVIDER_LISTENING;
  issuer: string;
  port: number;
}

/** A configuration mistake; the message names the variable and is fit to print as it is. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** Parses and validates DEV_AUTH_* variables over the defaults. Throws ConfigError. */
export function loadConfig(env: Env = process.env): DevAuthConfig {
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };

  const port = integer('DEV_AUTH_PORT', read('DEV_AUTH_PORT'), 0, 65535) ?? DEFAULT_CONFIG.port;
  const issuer = read('DEV_AUTH_ISSUER');
  const redirectUris = uriList('DEV_AUTH_REDIRECT_URIS', read('DEV_AUTH_REDIRECT_URIS'));
  if (redirectUris?.length === 0) {
    throw new ConfigError('DEV_AUTH_REDIRECT_URIS must list at least one URL');
  }
  const postLogout = uriList(
    'DEV_AUTH_POST_LOGOUT_REDIRECT_URIS',
    read('DEV_AUTH_POST_LOGOUT_REDIRECT_URIS'),
  );

  return {
    port,
    host: read('DEV_AUTH_HOST') ?? DEFAULT_CONFIG.host,
    issuer: issuer === undefined ? undefined : validIssuer('DEV_AUTH_ISSUER', issuer),
    clientId: clientId(read('DEV_AUTH_CLIENT_ID')) ?? DEFAULT_CONFIG.clientId,
    clientSecret: read('DEV_AUTH_CLIENT_SECRET') ?? DEFAULT_CONFIG.clientSecret,
    redirectUris: redirectUris ?? [...DEFAULT_CONFIG.redirectUris],
    postLogoutRedirectUris: postLogout ?? [],
    accessTokenTtlSeconds:
      integer('DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS', read('DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS'), 1) ??
      DEFAULT_CONFIG.accessTokenTtlSeconds,
    usersFile: read('DEV_AUTH_USERS_FILE') ?? DEFAULT_CONFIG.usersFile,
    keysFile: read('DEV_AUTH_KEYS_FILE'),
  };
}

/** The issuer the provider will use once it knows the port it is listening on. */
export function resolveIssuer(
  config: Pick<DevAuthConfig, 'issuer' | 'host'>,
  port: number,
): string {
  if (config.issuer !== undefined) return config.issuer;
  const family = isIP(config.host);
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const host = wildcard ? 'localhost' : family === 6 ? `[${config.host}]` : config.host;
  return `http://${host}:${port}`;
}

function integer(
  name: string,
  raw: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `${min}-${max}`;
    throw new ConfigError(`${name} must be a whole number (${range})`);
  }
  return value;
}

function clientId(raw: string | undefined): string | undefined {
  if (raw !== undefined && !/^[\x21-\x7e]+$/.test(raw)) {
    throw new ConfigError('DEV_AUTH_CLIENT_ID must be printable ASCII without spaces');
  }
  return raw;
}

/** An http(s) origin: the provider serves its routes at the root of its own server, so the
 * issuer cannot carry a path. The trailing slash is dropped (issuers compare exactly). */
function validIssuer(name: string, raw: string): string {
  const url = httpUrl(name, raw);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`${name} must be an origin only, like http://localhost:8090`);
  }
  return url.origin;
}

function uriList(name: string, raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const uris = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  for (const uri of uris) {
    if (httpUrl(name, uri).hash) {
      throw new ConfigError(`${name} entries must not have a fragment`);
    }
  }
  return uris;
}

function httpUrl(name: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an absolute http(s) URL`);
  }
  return url;
}
