import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ephemeralPortRange, LOWEST_LEASED_PORT, PortLease } from './port-lease.js';
import { tempHome, WORKSPACE_ROOT } from './workspace.js';

const run = promisify(execFile);

/** Whether another process can lease `port` right now (a child process tries it). */
async function leasableElsewhere(port: number): Promise<boolean> {
  const script = `
    const net = require('node:net');
    const s = net.createServer();
    s.once('error', () => process.stdout.write('taken'));
    s.listen('\\0bodhi-test-port-${port}', () => { process.stdout.write('free'); s.close(); });`;
  const { stdout } = await run(process.execPath, ['-e', script], { cwd: WORKSPACE_ROOT });
  return stdout === 'free';
}

describe('PortLease', () => {
  it('leases consecutive ports below the ephemeral range, which no other process can lease until released', async () => {
    const [low] = ephemeralPortRange();
    const lease = await PortLease.take(2);
    try {
      expect(lease.port).toBeGreaterThanOrEqual(LOWEST_LEASED_PORT);
      expect(lease.port + 1).toBeLessThan(low);
      if (process.platform === 'linux') {
        expect(await leasableElsewhere(lease.port)).toBe(false);
        expect(await leasableElsewhere(lease.port + 1)).toBe(false);
      }
      // The lease does not listen on the port itself: the server it is for can.
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(lease.port, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    } finally {
      await lease.release();
    }
    if (process.platform === 'linux') expect(await leasableElsewhere(lease.port)).toBe(true);
  });

  it('never hands out a port twice while it is leased', async () => {
    const leases = await Promise.all(Array.from({ length: 40 }, () => PortLease.take()));
    try {
      const ports = leases.map((l) => l.port);
      expect(new Set(ports).size).toBe(ports.length);
    } finally {
      await Promise.all(leases.map((l) => l.release()));
    }
  });

  it('starts above the ports fetch refuses to connect to (the last of which is 10080)', async () => {
    const error = await fetch(`http://127.0.0.1:${LOWEST_LEASED_PORT - 1}/`).catch((e: Error) => e);
    expect((error as Error & { cause?: Error }).cause?.message).toBe('bad port');
  });

  it('reads the kernel range, and falls back to Linux’s default without one', () => {
    const home = tempHome('bodhi-ports-');
    try {
      const file = path.join(home.dir, 'ip_local_port_range');
      fs.writeFileSync(file, '40000\t50000\n');
      expect(ephemeralPortRange(file)).toEqual([40000, 50000]);
      expect(ephemeralPortRange(path.join(home.dir, 'missing'))).toEqual([32768, 60999]);
    } finally {
      home.remove();
    }
  });
});
