import { DEMO_USER, WORKSPACE_ROOT } from '@bodhi/testing';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const PROCESSES = 4;
const STACKS_PER_PROCESS = 6;
const WORKER = path.join(WORKSPACE_ROOT, 'apps/bodhi-server-e2e/workers/stacks.mjs');

interface Login {
  server: string;
  issuer: string;
  sentTo: string;
  failure?: string;
  username?: string;
}

/**
 * Issue #26: test processes running side by side once gave two servers, or a server and a
 * provider, the same port (the kit guessed free ports), and a login went to another suite's
 * provider. Every listener now binds a port the kernel picks and says which.
 */
describe('stacks started at once from several processes', () => {
  it('each server sends its login to its own provider, which sends the user back to it', async () => {
    const outputs = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        run(process.execPath, [WORKER, String(STACKS_PER_PROCESS)], {
          cwd: WORKSPACE_ROOT,
          timeout: 240_000,
          maxBuffer: 16 * 1024 * 1024,
        }),
      ),
    );
    const reports = outputs.map(
      ({ stdout }) =>
        JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
          failedToStart: string[];
          logins: Login[];
        },
    );
    expect(reports.flatMap((r) => r.failedToStart)).toEqual([]);
    const logins = reports.flatMap((r) => r.logins);
    expect(logins).toHaveLength(PROCESSES * STACKS_PER_PROCESS);
    for (const login of logins) {
      expect(login).toEqual({
        server: login.server,
        issuer: login.issuer,
        // The server's login went to its own provider, and ended logged in at the server.
        sentTo: login.issuer,
        failure: undefined,
        username: DEMO_USER.username,
      });
    }
    // Every listener has an address of its own.
    const addresses = logins.flatMap((l) => [l.server, l.issuer]);
    expect(new Set(addresses).size).toBe(addresses.length);
  }, 300_000);
});
