// npm start: build, then run the Bodhi server on SQLite under $BODHI_HOME. With no identity
// provider configured (BODHI_AUTH_URL unset) the development OpenID Connect provider is
// started alongside and wired in, so a person can log in at once with a demo user.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' };
const children = [];

function stopAll(code) {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  process.exitCode = code;
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

function run(name, script, childEnv) {
  const child = spawn(process.execPath, [script], { cwd: root, env: childEnv, stdio: 'inherit' });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (signal === null && code !== 0) console.error(`[start] ${name} exited with code ${code}`);
    stopAll(code ?? 0);
  });
  return child;
}

async function waitFor(url, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} did not come up at ${url}`);
}

console.log('[start] building…');
const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '-p', 'bodhi-server', 'dev-auth-server', '--outputStyle=static'], {
  cwd: root,
  env,
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (build.status !== 0) {
  console.error('[start] build failed');
  process.exit(build.status ?? 1);
}

const host = env.BODHI_PUBLIC_HOST ?? env.BODHI_HOST ?? 'localhost';
const port = env.BODHI_PUBLIC_PORT ?? env.BODHI_PORT ?? '1135';
const scheme = env.BODHI_PUBLIC_SCHEME ?? env.BODHI_SCHEME ?? 'http';
const publicUrl = `${scheme}://${host}:${port}`;

if (!env.BODHI_AUTH_URL) {
  const authPort = env.DEV_AUTH_PORT ?? '8090';
  const issuer = `http://localhost:${authPort}`;
  run('dev-auth-server', 'apps/dev-auth-server/dist/main.js', {
    ...env,
    DEV_AUTH_PORT: authPort,
    DEV_AUTH_ISSUER: issuer,
    DEV_AUTH_REDIRECT_URIS: `${publicUrl}/ui/auth/callback`,
  });
  await waitFor(`${issuer}/.well-known/openid-configuration`, 'the development identity provider');
  Object.assign(env, {
    BODHI_AUTH_URL: issuer,
    BODHI_AUTH_CLIENT_ID: env.DEV_AUTH_CLIENT_ID ?? 'bodhi-server',
    BODHI_AUTH_CLIENT_SECRET: env.DEV_AUTH_CLIENT_SECRET ?? 'bodhi-dev-secret-change-me',
    BODHI_ENV_TYPE: env.BODHI_ENV_TYPE ?? 'development',
  });
}

run('bodhi-server', 'apps/bodhi-server/dist/main.js', env);
await waitFor(`${publicUrl}/bodhi/v1/ping`, 'the Bodhi server').catch((e) => {
  console.error(`[start] ${e.message}`);
  stopAll(1);
});
if (process.exitCode === undefined) {
  console.log(`\n[start] Bodhi is up: open ${publicUrl}/ui/login and log in (demo users above). Ctrl+C stops.\n`);
}
