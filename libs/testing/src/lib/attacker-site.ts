import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A web site of someone else's, for browser tests of cross-site attacks. */
export interface AttackerSite {
  /** `http://localhost:<port>`: another origin, and another site, than `http://127.0.0.1:…`. */
  readonly origin: string;
  /** The address of one of its pages. */
  url(path: string): string;
  close(): Promise<void>;
}

/**
 * Serves `pages` (path → HTML) on a port of its own, named `localhost`: to a browser it is
 * another site than a Bodhi server at 127.0.0.1 (a site is a scheme and a registrable name
 * or an IP address, the port aside), so its requests there are cross-site, as an attacker's
 * page on the web would be, while everything stays on the loopback interface.
 */
export async function startAttackerSite(pages: Record<string, string>): Promise<AttackerSite> {
  const server = http.createServer((req, res) => {
    const page = pages[new URL(req.url ?? '/', 'http://localhost').pathname];
    res.writeHead(page === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://localhost:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (path) => `${origin}${path}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
