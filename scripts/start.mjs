// npm start: build, then run the Bodhi server on SQLite under $BODHI_HOME. With no identity
// provider configured (BODHI_AUTH_URL unset) the development OpenID Connect provider is
// started alongside and wired in, so a person can log in at once with a demo user.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = process.env;

console.log('[start] building…');
// The apps, and the test kit this script starts them with: it runs from its build, since
// this script is not compiled.
const build = spawnSync(
  'npx',
  [
    'nx',
    'run-many',
    '-t',
    'build',
    '-p',
    'bodhi-server',
    'dev-auth-server',
    'testing',
    '--outputStyle=static',
  ],
  {
    cwd: root,
    env: { ...env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
if (build.status !== 0) {
  console.error('[start] build failed');
  process.exit(build.status ?? 1);
}
const { IdentityProviderProcess, serverEnv, ServerProcess } = await import('@bodhi/testing');
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

/** Brings `proc` up with its output shown; when either process ends, both stop. */
async function run(proc) {
  running.push(proc);
  const up = proc.up();
  proc.waitForExit().then((code) => {
    if (!stopping && code !== 0) console.error(`[start] ${proc.name} exited with code ${code}`);
    return stopAll(code ?? 0);
  });
  await up.catch((e) => {
    console.error(`[start] ${e.message}`);
    return stopAll(1);
  });
}

// Where browsers reach the server, as the server itself works it out (defaults included); a
// bad setting stops here with the server's own message.
let publicUrl;
try {
  publicUrl = new SettingService(parseSettings(env)).publicUrl();
} catch (e) {
  console.error(`[start] ${e.message}`);
  process.exit(1);
}

// The server's own settings come from the environment; only the provider is added here.
let provider;
if (!env.BODHI_AUTH_URL) {
  const authPort = Number(env.DEV_AUTH_PORT ?? 8090);
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
  // The provider's defaults (apps/dev-auth-server/src/config.ts) unless set for it.
  provider = {
    issuer: idp.issuer,
    clientId: env.DEV_AUTH_CLIENT_ID ?? 'bodhi-server',
    clientSecret: env.DEV_AUTH_CLIENT_SECRET ?? 'bodhi-dev-secret-change-me',
  };
}

if (!stopping) {
  await run(
    new ServerProcess(
      publicUrl,
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
