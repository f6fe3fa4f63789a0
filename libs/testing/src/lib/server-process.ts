import { EnvVars } from './env.js';
import { ManagedProcess, ManagedProcessOptions } from './managed-process.js';

/** The built server app, relative to the workspace root. */
export const BODHI_SERVER_SCRIPT = 'apps/bodhi-server/dist/main.js';

export interface ServerProcessOptions extends ManagedProcessOptions {
  name?: string;
  /** The server's entry point; default the built apps/bodhi-server. */
  script?: string;
}

/** A Bodhi server (the built app, or another entry point such as the bench's) as a process. */
export class ServerProcess extends ManagedProcess {
  constructor(
    readonly url: string,
    env: EnvVars,
    { name = 'bodhi-server', script = BODHI_SERVER_SCRIPT, ...options }: ServerProcessOptions = {},
  ) {
    super(name, script, env, options);
  }

  /** Starts it and resolves once it answers ping. */
  async up(): Promise<void> {
    this.start();
    await this.waitFor(`${this.url}/bodhi/v1/ping`);
  }

  /** Stops it (SIGKILL: a crash) and brings it up again on the same settings. */
  async restart(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.up();
  }
}
