import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKSPACE_ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../..',
);

/** Polls `url` until it answers 2xx; fails with the process output when it never does. */
export async function waitForUrl(
  url: string,
  proc: ManagedProcess,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited) throw new Error(`${proc.name} exited early:\n${proc.output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `${proc.name} did not answer at ${url} within ${timeoutMs} ms:\n${proc.output()}`,
  );
}

/** A real child process (a built app), with its output kept for failure messages. */
export class ManagedProcess {
  private child?: ChildProcess;
  private log: string[] = [];
  exited = false;

  constructor(
    readonly name: string,
    private readonly script: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  start(): void {
    this.exited = false;
    const child = spawn(process.execPath, [path.join(WORKSPACE_ROOT, this.script)], {
      cwd: WORKSPACE_ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.on('exit', () => (this.exited = true));
    this.child = child;
  }

  /** The process's stdout and stderr so far (the last `maxChars` of it). */
  output(maxChars = 4000): string {
    const all = this.log.join('');
    return Number.isFinite(maxChars) ? all.slice(-maxChars) : all;
  }

  /** Stops the process (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits for it. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

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
    new ManagedProcess('dev-auth-server', 'apps/dev-auth-server/dist/main.js', {
      ...process.env,
      DEV_AUTH_PORT: String(options.port),
      DEV_AUTH_HOST: '127.0.0.1',
      DEV_AUTH_ISSUER: issuer,
      DEV_AUTH_CLIENT_ID: options.clientId,
      DEV_AUTH_CLIENT_SECRET: options.clientSecret,
      DEV_AUTH_REDIRECT_URIS: options.redirectUris.join(','),
      DEV_AUTH_ACCESS_TOKEN_TTL_SECONDS: String(options.accessTokenTtlSeconds ?? 300),
    }),
    { issuer },
  );
}

/** Starts the provider and waits until its discovery document answers. */
export async function startIdentityProvider(
  provider: ManagedProcess & { issuer: string },
): Promise<void> {
  provider.start();
  await waitForUrl(`${provider.issuer}/.well-known/openid-configuration`, provider);
}
