import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ephemeralPortRange, freePort } from './ports.js';
import { tempHome } from './workspace.js';

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range that a server can listen on', async () => {
    const [low] = ephemeralPortRange();
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(low);
    }
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ports[0], '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
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
