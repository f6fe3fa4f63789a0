import {
  loadConfig,
  PROVIDER_LISTENING,
  type ProviderListening,
} from '@bodhi/dev-auth-server/testing/config';
import { identityProviderEnv, IdentityProviderOptions, OAuthClient } from './env.js';
import { ManagedProcess, ManagedProcessOptions } from './managed-process.js';
import { until } from './wait.js';

/** The demo users of apps/dev-auth-server/users.json. */
export const DEMO_USER = { username: 'user@bodhi.test', password: 'user-pass' };
export const DEMO_ADMIN = { username: 'admin@bodhi.test', password: 'admin-pass' };

/** The built development identity provider, relative to the workspace root. */
export const DEV_AUTH_SERVER_SCRIPT = 'apps/dev-auth-server/dist/main.js';

/**
 * The development identity provider (the built app) as a process. Without a port it binds one
 * the kernel picks and says where it is once it listens (`issuer`); servers started after it
 * register their redirect URIs with it (`registerRedirectUri`) once they know theirs.
 */
export class IdentityProviderProcess extends ManagedProcess {
  private listening?: ProviderListening;

  constructor(options: IdentityProviderOptions = {}, processOptions?: ManagedProcessOptions) {
    super('dev-auth-server', DEV_AUTH_SERVER_SCRIPT, identityProviderEnv(options), processOptions);
  }

  /** The issuer URL of the running provider; throws before it listens. */
  get issuer(): string {
    return this.listeningAt().issuer;
  }

  /**
   * Where the provider itself listens (`http://127.0.0.1:<port>`), which is its issuer
   * unless it was given another (a proxy in front of it).
   */
  get origin(): string {
    return `http://127.0.0.1:${this.listeningAt().port}`;
  }

  private listeningAt(): ProviderListening {
    if (!this.listening) throw new Error(`${this.name} is not listening`);
    return this.listening;
  }

  /**
   * The Bodhi server's client at this provider, read from the provider's settings as the
   * provider reads them: the options, else DEV_AUTH_CLIENT_ID/_SECRET in this process's
   * environment, else the provider's defaults.
   */
  get client(): OAuthClient {
    const { clientId, clientSecret } = loadConfig(this.childEnv());
    return { issuer: this.issuer, clientId, clientSecret };
  }

  /** Starts it and resolves once it listens. */
  async up(): Promise<void> {
    this.listening = undefined;
    this.start();
    this.listening = await this.waitForMessage<ProviderListening>(PROVIDER_LISTENING);
  }

  /**
   * Lets the Bodhi server's client send users back to `serverUrl`'s callback: the admin API's
   * registration, what a server on a port of the kernel's choosing needs before a login.
   */
  async registerRedirectUri(serverUrl: string): Promise<void> {
    await registerRedirectUri(this.client, `${serverUrl}/ui/auth/callback`);
  }
}

/** An admin-API call of the Bodhi server's client (a client-credentials token), its JSON answer. */
async function adminCall(
  client: OAuthClient,
  path: string,
  init: { method: string; body?: unknown } = { method: 'GET' },
): Promise<unknown> {
  const token = await tokenRequest(client, { grant_type: 'client_credentials' });
  const answer = await fetch(`${client.issuer}${path}`, {
    method: init.method,
    headers: {
      authorization: `Bearer ${String(token.body.access_token)}`,
      ...(init.body !== undefined && { 'content-type': 'application/json' }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (!answer.ok)
    throw new Error(`provider ${path} answered ${answer.status}: ${await answer.text()}`);
  return answer.json();
}

/** Registers `redirectUri` for `client` at its provider (the development provider's admin API). */
async function registerRedirectUri(client: OAuthClient, redirectUri: string): Promise<void> {
  await adminCall(client, `/admin/clients/${encodeURIComponent(client.clientId)}/redirect-uris`, {
    method: 'POST',
    body: { redirect_uri: redirectUri },
  });
}

/** An answer of the provider's token endpoint: its status and JSON body. */
export interface TokenResponse {
  status: number;
  body: Record<string, unknown>;
}

/**
 * A request of the Bodhi server's client to the provider's token endpoint
 * (client_secret_basic): what a test sends to see which grants the provider still honours.
 */
export function tokenRequest(
  client: OAuthClient,
  params: Record<string, string>,
): Promise<TokenResponse> {
  return clientPost(client, 'token_endpoint', params);
}

/**
 * A form POST of the Bodhi server's client (client_secret_basic) to the provider's
 * `endpoint`, as its discovery document names it; the answer's status and JSON body.
 */
async function clientPost(
  client: OAuthClient,
  endpoint: 'token_endpoint' | 'introspection_endpoint',
  params: Record<string, string>,
): Promise<TokenResponse> {
  const discovery = (await (
    await fetch(`${client.issuer}/.well-known/openid-configuration`)
  ).json()) as Record<typeof endpoint, string>;
  const response = await fetch(discovery[endpoint], {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * Resolves once the provider reports `refreshToken` inactive (RFC 7662 introspection, which
 * spends nothing): the signal that a revocation sent in the background (a logout's, a session
 * ending's) has reached the provider. Rejects after `timeoutMs`, a hang guard.
 */
export async function untilRefreshTokenInactive(
  client: OAuthClient,
  refreshToken: string,
  timeoutMs = 10_000,
): Promise<void> {
  const inactive = async () =>
    (
      await clientPost(client, 'introspection_endpoint', {
        token: refreshToken,
        token_type_hint: 'refresh_token',
      })
    ).body.active === false;
  await until(inactive, timeoutMs);
}

/** Token-endpoint grants by grant_type: those the provider served, and those it refused. */
export interface ProviderStats {
  grants: Record<string, number>;
  failed_grants: Record<string, number>;
}

/** The provider's grant counters, read through its admin API with a client-credentials token. */
export async function providerStats(client: OAuthClient): Promise<ProviderStats> {
  return (await adminCall(client, '/admin/stats')) as ProviderStats;
}
