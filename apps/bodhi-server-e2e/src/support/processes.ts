import { ManagedProcess } from '@bodhi/services/testing';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKSPACE_ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../..',
);

export interface IdentityProviderOptions {
  port: number;
  clientId: string;
  clientSecret: string;
  /** Where the provider may send users back to (the servers' /ui/auth/callback). */
  redirectUris: string[];
  accessTokenTtlSeconds?: number;
}

/** The development identity provider (built app) as a process on 127.0.0.1:`port`. */
export function identityProvider(
  options: IdentityProviderOptions,
): ManagedProcess & { issuer: string } {
  const issuer = `http://127.0.0.1:${options.port}`;
  return Object.assign(
    new ManagedProcess(
      'dev-auth-server',
      'apps/dev-auth-server/dist/main.js',
      {
        ...process.env,
        DEV_AUTH_PORT: String(options.port),
        DEV_AUTH_HOST: '127.0.0.1',
        DEV_AUTH_ISSUER: issuer,
        DEV_AUTH_CLIENT_ID: options.clientId,
        DEV_AUTH_CLIENT_SECRET: options.clientSecret,
        DEV_AUTH_REDIRECT_URIS: options.redirectUris.join(','),
        DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS: String(options.accessTokenTtlSeconds ?? 300),
      },
      WORKSPACE_ROOT,
    ),
    { issuer },
  );
}

/** Starts the provider and waits until its discovery document answers. */
export async function startIdentityProvider(
  provider: ManagedProcess & { issuer: string },
): Promise<void> {
  provider.start();
  await provider.waitFor(`${provider.issuer}/.well-known/openid-configuration`);
}
