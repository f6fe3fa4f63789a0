import type { LogLevel } from '@nestjs/common';
import { RunningBodhiServer, startBodhiServer } from '@bodhi/server-app';
import { AppOptions, resolveEnv } from './app-options.js';

export interface BodhiServerOptions {
  /**
   * Nest log levels; default from BODHI_LOG_LEVEL. `false` silences logging. Logging is per
   * process: while another server runs in this process, its settings apply and these are
   * ignored (one warn line says so).
   */
  logger?: LogLevel[] | false;
}

/**
 * The Bodhi server, in-process: the same application factory `apps/bodhi-server` runs,
 * configured by an AppOptions object (over process.env). Several servers with different
 * options can run in one process; each has its own port and session store. Logging is the
 * exception: one logger serves the process, so the logging settings (level, format) of the
 * first server still running apply to every server running with it; a server started after
 * all earlier ones stopped gets its own.
 */
export class BodhiServer {
  private running?: RunningBodhiServer;
  private starting?: Promise<void>;

  constructor(
    readonly config: AppOptions,
    private readonly options: BodhiServerOptions = {},
  ) {}

  /**
   * Boots and listens. Rejects with the configuration or database problem named (and
   * nothing left running) when it cannot, and may then be called again. A call while
   * running resolves at once; calls while starting share that one start.
   */
  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.starting ??= startBodhiServer({
      env: resolveEnv(this.config),
      logger: this.options.logger,
    })
      .then((server) => {
        this.running = server;
      })
      .finally(() => {
        this.starting = undefined;
      });
    return this.starting;
  }

  /** Closes the server: port released, pruner stopped, DataSource closed. Safe to repeat. */
  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const server = this.running;
    this.running = undefined;
    await server?.close();
  }

  isRunning(): boolean {
    return this.running !== undefined;
  }

  /** The server's public URL (e.g. http://localhost:1135); throws when not running. */
  serverUrl(): string {
    if (!this.running) throw new Error('BodhiServer is not running');
    return this.running.url;
  }

  /** True when the server answers GET /bodhi/v1/ping. */
  async ping(): Promise<boolean> {
    if (!this.running) return false;
    try {
      const res = await fetch(`${this.running.url}/bodhi/v1/ping`);
      return res.ok && ((await res.json()) as { message?: string }).message === 'pong';
    } catch {
      return false;
    }
  }
}
