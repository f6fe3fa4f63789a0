import type { ServerListening } from '@bodhi/server-app';
import { EnvVars } from './env.js';
import { ManagedProcess, ManagedProcessOptions } from './managed-process.js';

/** The built server app, relative to the workspace root. */
export const BODHI_SERVER_SCRIPT = 'apps/bodhi-server/dist/main.js';

/**
 * The server's "listening" message type (server-app's SERVER_LISTENING), spelled here so the
 * kit does not load the server's libraries to read one string; its type keeps them equal.
 */
const SERVER_LISTENING: ServerListening['type'] = 'bodhi-server:listening';

export interface ServerProcessOptions extends ManagedProcessOptions {
  name?: string;
  /** The server's entry point; default the built apps/bodhi-server. */
  script?: string;
  /**
   * Runs once the server has said where it listens, before `up()` resolves, on each start:
   * what must know the address first (the provider registering its redirect URI).
   */
  onListening?: (url: string) => Promise<void>;
}

/**
 * A Bodhi server (the built app, or another entry point such as the bench's) as a process.
 * With BODHI_PORT=0 (the kit's servers) it binds a port the kernel picks and reports it over
 * the IPC channel: `url` is where this run answers, and a restart may answer elsewhere.
 */
export class ServerProcess extends ManagedProcess {
  private listening?: ServerListening;
  private readonly onListening?: (url: string) => Promise<void>;

  constructor(
    env: EnvVars,
    {
      name = 'bodhi-server',
      script = BODHI_SERVER_SCRIPT,
      onListening,
      ...options
    }: ServerProcessOptions = {},
  ) {
    super(name, script, env, options);
    this.onListening = onListening;
  }

  /** Where the running server answers (its public URL); throws before it listens. */
  get url(): string {
    if (!this.listening) throw new Error(`${this.name} is not listening`);
    return this.listening.url;
  }

  /** Starts it and resolves once it listens (and `onListening` is done). */
  async up(): Promise<void> {
    this.listening = undefined;
    this.start();
    this.listening = await this.waitForMessage<ServerListening>(SERVER_LISTENING);
    await this.onListening?.(this.listening.url);
  }

  /** Stops it (SIGKILL: a crash) and brings it up again on the same settings. */
  async restart(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.up();
  }
}
