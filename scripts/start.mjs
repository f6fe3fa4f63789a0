// npm start: build, then run the Bodhi server on SQLite under $BODHI_HOME. With no identity
// provider configured (BODHI_AUTH_URL unset) the development OpenID Connect provider is
// started alongside and wired in, so a person can log in at once with a demo user.
import { buildForScripts } from './build-for-scripts.mjs';

const env = process.env;

console.log('[start] building…');
const status = buildForScripts();
if (status !== 0) {
  console.error('[start] build failed');
  process.exit(status);
}
const { IdentityProviderProcess, serverEnv, ServerProcess } = await import('@bodhi/testing');
const { loadConfig } = await import('@bodhi/dev-auth-server/testing/config');
const { parseSettings, SettingService } = await import('@bodhi/services');

const running = [];
let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  await Promise.all(running.map((proc) => proc.stop()));
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

/**
 * Brings `proc` up with its output shown; when either process ends, both stop. One that ends
 * while starting (a taken port, a bad setting) has said why in its own one line.
 */
async function run(proc) {
  running.push(proc);
  let upNow = false;
  const up = proc.up().then(() => (upNow = true));
  proc.waitForExit().then((code) => {
    if (!stopping && upNow && code !== 0)
      console.error(`[start] ${proc.name} exited with code ${code}`);
    return stopAll(code ?? 0);
  });
  await up.catch((e) => {
    if (!proc.exited) console.error(`[start] ${e.message}`);
    return stopAll(1);
  });
}

/** A setting as its owner works it out (defaults included); a bad one stops here with its message. */
function setting(read) {
  try {
    return read();
  } catch (e) {
    console.error(`[start] ${e.message}`);
    process.exit(1);
  }
}

// Where browsers reach the server, as the server itself works it out.
const publicUrl = setting(() => new SettingService(parseSettings(env)).publicUrl());

// The server's own settings come from the environment; only the provider is added here.
let provider;
if (!env.BODHI_AUTH_URL) {
  // The provider's port as the provider reads it (DEV_AUTH_PORT, else its default).
  const authPort = setting(() => loadConfig(env).port);
  const idp = new IdentityProviderProcess(
    {
      port: authPort,
      host: env.DEV_AUTH_HOST,
      issuer: `http://localhost:${authPort}`,
      redirectUris: [`${publicUrl}/ui/auth/callback`],
    },
    { echo: true },
  );
  await run(idp);
  if (!stopping) provider = idp.client;
}

if (!stopping) {
  await run(
    new ServerProcess(
      serverEnv({
        provider,
        env: provider && { BODHI_ENV_TYPE: env.BODHI_ENV_TYPE ?? 'development' },
      }),
      { echo: true },
    ),
  );
}
if (!stopping) {
  console.log(
    `\n[start] Bodhi is up: open ${publicUrl}/ui/login and log in (demo users above). Ctrl+C stops.\n`,
  );
}
