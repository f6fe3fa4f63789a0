// The build npm start and npm run soak run first: the apps they start, and the test kit they
// start them with (it runs from its build, since the scripts are not compiled).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Builds bodhi-server, dev-auth-server and the kit; Nx's errors go to stderr. Returns the exit status. */
export function buildForScripts() {
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
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return build.status ?? 1;
}
