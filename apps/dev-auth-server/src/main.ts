// Command line: `node apps/dev-auth-server/dist/main.js` (or `npx nx serve dev-auth-server`).
// Reads DEV_AUTH_* from the environment, starts the provider, prints where it listens and the
// demo credentials (this is a development tool), and stops cleanly on SIGINT/SIGTERM.
import { ConfigError, loadConfig, PROVIDER_LISTENING, type ProviderListening } from './config.js';

async function main(): Promise<void> {
  let server;
  try {
    const config = loadConfig();
    // Loaded only once the settings are valid: importing oidc-provider may print a runtime
    // notice, and a bad setting should produce exactly one line.
    const { createDevAuthServer } = await import('./dev-auth-server.js');
    server = await createDevAuthServer(config);
  } catch (err) {
    // One clear line for a bad setting, a bad users file or a busy port; no stack trace.
    const message = err instanceof ConfigError ? err.message : (err as Error).message;
    console.error(`dev-auth-server: ${message}`);
    process.exitCode = 1;
    return;
  }

  const { config } = server;
  // A parent that started it with an IPC channel (the test kit) learns where it is; the
  // channel is then let go, so it never keeps this process alive.
  if (process.send) {
    const listening: ProviderListening = {
      type: PROVIDER_LISTENING,
      issuer: server.issuer,
      port: server.port,
    };
    process.send(listening);
    process.channel?.unref();
  }
  console.log(`dev-auth-server listening on ${server.issuer}`);
  console.log(`  discovery:    ${server.issuer}/.well-known/openid-configuration`);
  console.log(`  client:       ${config.clientId} (secret: ${config.clientSecret})`);
  console.log(`  redirect URI: ${config.redirectUris.join(', ')}`);
  console.log(`  access token: JWT, ${config.accessTokenTtlSeconds}s`);
  console.log('  demo users (username / password, role):');
  for (const user of server.users()) {
    console.log(`    ${user.username} / ${user.password}  (${user.role})`);
  }

  let closing = false;
  const stop = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    console.log(`dev-auth-server: ${signal}, closing`);
    server.close().then(
      () => (process.exitCode = 0),
      (err: unknown) => {
        console.error('dev-auth-server: close failed:', err);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main();
