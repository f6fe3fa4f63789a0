import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ephemeralPortRange, freePort, LOWEST_TEST_PORT } from './ports.js';
import { tempHome } from './workspace.js';

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range that a server can listen on', async () => {
    const [low] = ephemeralPortRange();
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(LOWEST_TEST_PORT);
      expect(port).toBeLessThan(low);
    }
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ports[0], '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });

  it('starts above the ports fetch refuses to connect to (the last of which is 10080)', async () => {
    const refusal = async (port: number) => {
      const error = await fetch(`http://127.0.0.1:${port}/`).catch((e: Error) => e);
      const cause = (error as Error & { cause?: Error & { code?: string } }).cause;
      return cause?.code ?? cause?.message;
    };
    expect(await refusal(LOWEST_TEST_PORT - 1)).toBe('bad port');
    // Nothing listens there: the connection itself is tried, and refused by the kernel.
    if (await canBind(LOWEST_TEST_PORT))
      expect(await refusal(LOWEST_TEST_PORT)).toBe('ECONNREFUSED');
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

/** Whether nothing listens on `port` (then a connection to it is refused). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
