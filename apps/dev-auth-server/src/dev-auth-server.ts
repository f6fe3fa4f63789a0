// Starts the development OpenID Connect provider on one HTTP port: oidc-provider's endpoints
// (discovery, /auth, /token, /jwks, /me, /session/end, ...) plus the login form
// (interactions.ts) and the admin API (admin.ts), all as middleware of the same Koa app.
// Tests run it in-process on port 0; main.ts is the command-line wrapper.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createAccessTokenVerifier } from './access-tokens.js';
import { adminRoutes } from './admin.js';
import { DEFAULT_CONFIG, resolveIssuer, type DevAuthConfig } from './config.js';
import { interactionRoutes } from './interactions.js';
import { loadSigningKey, publicJwk } from './keys.js';
import { createMemoryStorage } from './memory-adapter.js';
import { clientMetadata, createProvider, revokeGrants } from './provider.js';
import { clientRegistry } from './client-registry.js';
import { userinfoShim } from './userinfo.js';
import { UserStore, type DemoUser, type Role } from './users.js';

export interface DevAuthServer {
  /** Issuer identifier, e.g. `http://localhost:8090`; discovery is at
   * `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  /** The port actually listened on (useful with port 0). */
  readonly port: number;
  /** The effective configuration (defaults filled in). */
  readonly config: Readonly<DevAuthConfig>;
  /** The demo users as they are now (roles included). */
  users(): DemoUser[];
  /** Changes a user's role for tokens issued from now on. Throws for an unknown sub. */
  setRole(sub: string, role: Role): void;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Starts a provider. Every field of `config` is optional; missing ones take the defaults of
 * config.ts (which main.ts fills from the environment). */
export async function createDevAuthServer(
  config: Partial<DevAuthConfig> = {},
): Promise<DevAuthServer> {
  const effective: DevAuthConfig = { ...DEFAULT_CONFIG, ...stripUndefined(config) };
  const users = await UserStore.fromFile(effective.usersFile);
  const signingKey = await loadSigningKey(effective.keysFile);

  // The issuer may contain the port, which is known only once listening (port 0), so the
  // server starts with a placeholder handler and the provider is built afterwards.
  let handle = (_req: IncomingMessage, res: ServerResponse) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot listen on ${effective.host}:${effective.port}: ${err.code ?? err.message}` +
            (err.code === 'EADDRINUSE' ? ' (the port is taken: set DEV_AUTH_PORT to another)' : ''),
        ),
      ),
    );
    server.listen(effective.port, effective.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = resolveIssuer(effective, port);

  const storage = createMemoryStorage();
  const provider = createProvider({
    issuer,
    config: effective,
    users,
    signingKey,
    adapter: storage.adapter,
  });
  const verifyAccessToken = createAccessTokenVerifier({
    issuer,
    clientId: effective.clientId,
    publicKeys: [publicJwk(signingKey)],
  });
  const { clientId } = effective;
  const client = clientRegistry({
    clientId,
    store: storage.adapter('Client'),
    validate: (metadata) => provider.Client.validate(metadata),
  });
  await client.init(clientMetadata(effective));

  // Koa runs middleware in order; oidc-provider's router is the first entry. The userinfo
  // shim must see requests before it, the login form and admin API after it (they only get
  // the paths the router does not serve).
  provider.middleware.unshift(
    userinfoShim({ path: provider.pathFor('userinfo'), users, clientId, verifyAccessToken }),
  );
  provider.use(interactionRoutes(provider, users));
  const grants: Record<string, number> = {};
  const failedGrants: Record<string, number> = {};
  const count = (counts: Record<string, number>, grantType: unknown) => {
    const type = String(grantType ?? 'unknown');
    counts[type] = (counts[type] ?? 0) + 1;
  };
  provider.on('grant.success', (ctx) => count(grants, ctx.oidc.params?.grant_type));
  // A refused grant too (a reused code, a revoked refresh token): a test can see the attempt.
  provider.on('grant.error', (ctx) => count(failedGrants, ctx.oidc?.params?.grant_type));
  provider.use(
    adminRoutes({
      users,
      clientId,
      verifyAccessToken,
      grantCounts: () => ({ ...grants }),
      failedGrantCounts: () => ({ ...failedGrants }),
      async revokeGrantsOf(sub) {
        const grantIds = storage.grantIdsOf(sub);
        await revokeGrants(provider, grantIds);
        return grantIds.length;
      },
      client,
    }),
  );
  provider.on('server_error', (_ctx, err: Error) => {
    console.error('dev-auth-server: server error:', err);
  });

  handle = provider.callback();

  return {
    issuer,
    port,
    config: { ...effective, issuer },
    users: () => users.list(),
    setRole: (sub, role) => void users.setRole(sub, role),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
