import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';

/**
 * The lowest port a test server gets: clear of well-known services, and above every port
 * the Fetch standard's "bad ports" list blocks (its highest is 10080), to which fetch refuses
 * to connect at all: a server given 10080 answered nothing, and its stack timed out booting.
 */
export const LOWEST_TEST_PORT = 10_081;
const LOWEST = LOWEST_TEST_PORT;

/**
 * The ports the kernel hands out to outgoing connections (and to `listen(0)`): Linux's
 * `ip_local_port_range`, its default elsewhere. A port picked from this range can be taken by
 * any process's next outgoing connection (a PostgreSQL client, a fetch) between the moment it
 * is found free and the moment the server started with it binds, which made e2e servers fail
 * with EADDRINUSE now and then. Ports below it are taken only by a listener choosing them.
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

/** Ports this process has handed out, never handed out again: two servers of one stack. */
const handedOut = new Set<number>();

const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * A free TCP port on the loopback interface for a server a test starts, chosen at random
 * below the ephemeral range (so no outgoing connection can take it before the server binds)
 * and never twice in one process. Parallel test processes pick at random from thousands of
 * ports, so two choosing the same one at the same moment is left to chance, and a port some
 * listener already holds is skipped.
 */
export async function freePort(): Promise<number> {
  const highest = ephemeralPortRange()[0] - 1;
  if (highest - LOWEST < 1000)
    throw new Error(`too few ports below the ephemeral range (${highest + 1})`);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = randomInt(LOWEST, highest + 1);
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port found between ${LOWEST} and ${highest}`);
}
