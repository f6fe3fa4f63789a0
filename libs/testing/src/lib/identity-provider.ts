import { loadConfig } from '@bodhi/dev-auth-server/testing/config';
import { identityProviderEnv, IdentityProviderOptions, issuerOf, OAuthClient } from './env.js';
import { ManagedProcess, ManagedProcessOptions } from './managed-process.js';

/** The demo users of apps/dev-auth-server/users.json. */
export const DEMO_USER = { username: 'user@bodhi.test', password: 'user-pass' };
export const DEMO_ADMIN = { username: 'admin@bodhi.test', password: 'admin-pass' };

/** The built development identity provider, relative to the workspace root. */
export const DEV_AUTH_SERVER_SCRIPT = 'apps/dev-auth-server/dist/main.js';

/** The development identity provider (the built app) as a process. */
export class IdentityProviderProcess extends ManagedProcess {
  readonly issuer: string;

  constructor(options: IdentityProviderOptions, processOptions?: ManagedProcessOptions) {
    super('dev-auth-server', DEV_AUTH_SERVER_SCRIPT, identityProviderEnv(options), processOptions);
    this.issuer = issuerOf(options);
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

  /** Starts it and resolves once its discovery document answers. */
  async up(): Promise<void> {
    this.start();
    await this.waitFor(`${this.issuer}/.well-known/openid-configuration`);
  }
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
export async function tokenRequest(
  client: OAuthClient,
  params: Record<string, string>,
): Promise<TokenResponse> {
  const discovery = (await (
    await fetch(`${client.issuer}/.well-known/openid-configuration`)
  ).json()) as { token_endpoint: string };
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Token-endpoint grants by grant_type: those the provider served, and those it refused. */
export interface ProviderStats {
  grants: Record<string, number>;
  failed_grants: Record<string, number>;
}

/** The provider's grant counters, read through its admin API with a client-credentials token. */
export async function providerStats(client: OAuthClient): Promise<ProviderStats> {
  const token = await tokenRequest(client, { grant_type: 'client_credentials' });
  const stats = await fetch(`${client.issuer}/admin/stats`, {
    headers: { authorization: `Bearer ${String(token.body.access_token)}` },
  });
  if (!stats.ok) throw new Error(`provider stats answered ${stats.status}`);
  return (await stats.json()) as ProviderStats;
}
