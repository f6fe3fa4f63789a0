import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

// Every server the kit starts in Node binds port 0 and reports the port the kernel gave it.
// PostgreSQL and PgBouncer cannot: they are given a port number before they bind it, and a
// paused PostgreSQL gives its port up until it resumes. Their ports are leased here: a lease is
// a kernel object named for the port (a Unix socket in Linux's abstract namespace) that one
// process holds, so no other process of any run on this machine can lease the same port while
// the holder lives, and the kernel ends it with the holder, however the holder ends.

/**
 * The lowest port leased: clear of well-known services, and above every port the Fetch
 * standard's "bad ports" list blocks (its highest is 10080), to which fetch refuses to connect.
 */
export const LOWEST_LEASED_PORT = 10_081;

/**
 * The ports the kernel hands out to outgoing connections and to `listen(0)`: Linux's
 * `ip_local_port_range`, its default elsewhere. Leases stay below it, so neither a client's
 * connection nor a server on port 0 can take a leased port while its holder is down.
 */
export function ephemeralPortRange(
  file = '/proc/sys/net/ipv4/ip_local_port_range',
): [number, number] {
  try {
    const [low, high] = fs.readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low, high];
  } catch {
    // not Linux: fall through to its default
  }
  return [32768, 60999];
}

/**
 * The name of the kernel object that is the lease of `port`. Elsewhere than Linux there is no
 * abstract namespace: a socket file, which a holder that was killed leaves behind (its port
 * is then never leased again on this machine: a leak, never a double lease).
 */
function leaseName(port: number): string {
  if (process.platform === 'linux') return `\0bodhi-test-port-${port}`;
  const dir = path.join(os.tmpdir(), 'bodhi-test-port-leases');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${port}.sock`);
}

const listenOn = (server: net.Server, ...args: [string] | [number, string]) =>
  new Promise<boolean>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      // ::1 may not exist (IPv6 off): nothing can listen there, so nothing is in the way.
      e.code === 'EADDRINUSE'
        ? resolve(false)
        : e.code === 'EADDRNOTAVAIL'
          ? resolve(true)
          : reject(e),
    );
    server.listen(...(args as [string]), () => resolve(true));
  });

const closed = (server: net.Server) =>
  new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));

/** Whether nothing (of this run or not) listens on `port` of either loopback address. */
async function unused(port: number): Promise<boolean> {
  for (const host of ['127.0.0.1', '::1']) {
    const probe = net.createServer();
    const free = await listenOn(probe, port, host);
    await closed(probe);
    if (!free) return false;
  }
  return true;
}

/** `count` consecutive ports, held for this process until `release()` or its end. */
export class PortLease {
  private constructor(
    /** The first leased port. */
    readonly port: number,
    private readonly holders: net.Server[],
  ) {}

  /**
   * Leases `count` consecutive ports below the ephemeral range that nothing listens on, at a
   * random place (so parallel runs rarely meet at all); a port another process holds is
   * skipped, never shared.
   */
  static async take(count = 1): Promise<PortLease> {
    const highest = ephemeralPortRange()[0] - count;
    for (let attempt = 0; attempt < 200; attempt++) {
      const first = randomInt(LOWEST_LEASED_PORT, highest);
      const holders: net.Server[] = [];
      let held = true;
      for (let port = first; held && port < first + count; port++) {
        const holder = net.createServer().unref();
        held = await listenOn(holder, leaseName(port));
        if (held) holders.push(holder);
      }
      const lease = new PortLease(first, holders);
      if (held) {
        const ports = Array.from({ length: count }, (_, i) => first + i);
        if ((await Promise.all(ports.map(unused))).every(Boolean)) return lease;
      }
      await lease.release();
    }
    throw new Error(
      `no ${count} consecutive free ports between ${LOWEST_LEASED_PORT} and ${highest}`,
    );
  }

  /** Ends the lease: the ports may be leased again. */
  async release(): Promise<void> {
    await Promise.all(
      this.holders.splice(0).map(async (holder) => {
        const name = holder.address();
        await closed(holder);
        // A socket file (not Linux) outlives its server unless removed.
        if (typeof name === 'string' && !name.startsWith('\0')) fs.rmSync(name, { force: true });
      }),
    );
  }
}
