import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { PortLease } from './port-lease.js';
import { Stack, StackOptions, startStack } from './stack.js';
import { WORKSPACE_ROOT } from './workspace.js';

const run = promisify(execFile);

/**
 * A PostgreSQL of one spec's own, on its own port, that the spec may stop and start (an
 * outage) without disturbing the shared test database. Started with the project's harness
 * (scripts/test-deps.mjs), so it works wherever `npm test` does. PostgreSQL cannot bind port
 * 0, so its port and the one above it (where the harness puts its PgBouncer) are leased for
 * its whole life, pauses included: no other server of any run can be given them meanwhile.
 */
export class PrivatePostgres {
  private constructor(
    readonly url: string,
    private readonly lease: PortLease,
  ) {}

  /** `password` lets a test search logs for it (the shared one equals its user name). */
  static async start(password = 'bodhi_test'): Promise<PrivatePostgres> {
    const lease = await PortLease.take(2);
    const pg = new PrivatePostgres(
      `postgres://bodhi_test:${password}@127.0.0.1:${lease.port}/bodhi_sessions`,
      lease,
    );
    await pg.harness('up').catch(async (e: unknown) => {
      await pg.stop().catch(() => undefined);
      throw e;
    });
    return pg;
  }

  /** The database goes away (fast shutdown), keeping its data. */
  pause(): Promise<void> {
    return this.harness('pause');
  }

  resume(): Promise<void> {
    return this.harness('resume');
  }

  /** Stops it and removes its data; its ports are then free for others. */
  async stop(): Promise<void> {
    try {
      await this.harness('down');
    } finally {
      await this.lease.release();
    }
  }

  private async harness(command: string): Promise<void> {
    await run(process.execPath, [path.join(WORKSPACE_ROOT, 'scripts/test-deps.mjs'), command], {
      env: { ...process.env, BODHI_TEST_PG_URL: this.url },
      timeout: 120_000,
    });
  }
}

export interface PrivateStack {
  pg: PrivatePostgres;
  stack: Stack;
  /** Ends the servers and the private database (resuming it first if paused). */
  stop(): Promise<void>;
}

/** A stack whose session database is a private PostgreSQL the spec may pause and resume. */
export async function startStackOnPrivatePostgres(
  options: Omit<StackOptions, 'backend' | 'pgUrl'> = {},
  password?: string,
): Promise<PrivateStack> {
  const pg = await PrivatePostgres.start(password);
  const stack = await startStack({ ...options, backend: 'postgres', pgUrl: pg.url }).catch(
    async (e) => {
      await pg.stop();
      throw e;
    },
  );
  return {
    pg,
    stack,
    async stop() {
      await pg.resume().catch(() => undefined);
      await stack.stop();
      await pg.stop();
    },
  };
}
