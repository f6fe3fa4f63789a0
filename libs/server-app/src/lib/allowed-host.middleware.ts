import { HttpStatus, Injectable, NestMiddleware } from '@nestjs/common';
import { ApiError } from '@bodhi/auth-middleware';
import { isWildcardAddress, SettingService, type ServerSettings } from '@bodhi/services';
import { isIP } from 'node:net';
import type { NextFunction, Request, Response } from 'express';

/** Names every loopback name or address of this machine goes by in a browser. */
const LOOPBACK_ALIASES = ['localhost', '127.0.0.1', '[::1]'];

/** `name[:port]` with a registered name or IPv4 address, or `[IPv6][:port]`; nothing else. */
const HOST = /^(?:(\[[0-9a-f:.]+\])|([a-z0-9._-]+))(?::\d{1,5})?$/i;

/**
 * Every pattern this module applies to a request's headers: a spec runs a ReDoS checker over
 * them, so a pattern added here must be added to this list.
 */
export const HOST_PATTERNS: readonly RegExp[] = [HOST];

/**
 * The name `host` (a Host header, `name[:port]`) stands for, in one spelling: lower case,
 * IPv6 compressed and in brackets, the port left off. Undefined when it is no host at all
 * (a path, user info, spaces, an empty name): such a request is refused, never guessed at.
 * A bare IPv6 address (as BODHI_HOST may hold one) is taken too.
 */
export function hostName(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const value = isIP(host) === 6 ? `[${host}]` : host;
  const match = HOST.exec(value);
  if (!match) return undefined;
  const [, ipv6, name] = match;
  if (name !== undefined) return name.toLowerCase();
  // The URL parser writes an IPv6 address one way ([0:0::1] → [::1]) and refuses a bad one.
  try {
    return new URL(`http://${ipv6}`).hostname;
  } catch {
    return undefined;
  }
}

const isLoopback = (name: string): boolean =>
  name === 'localhost' ||
  name.endsWith('.localhost') ||
  name === '[::1]' ||
  (isIP(name) === 4 && name.startsWith('127.'));

/**
 * The host names a request may name, or `'any'`. BODHI_ALLOWED_HOSTS when set; else the
 * public host, the bind host (unless it is a wildcard address), and, when either is a
 * loopback name or address, localhost, 127.0.0.1 and [::1]: a server on this machine is
 * opened by any of them, and no page elsewhere can make a browser send one.
 */
export function allowedHostNames(
  server: Pick<ServerSettings, 'allowedHosts' | 'host' | 'publicHost'>,
): ReadonlySet<string> | 'any' {
  if (server.allowedHosts.includes('*')) return 'any';
  const configured =
    server.allowedHosts.length > 0 ? server.allowedHosts : [server.publicHost, server.host];
  const names = configured.map((entry) => {
    const name = hostName(entry);
    if (name === undefined) {
      throw new Error(
        `allowed hosts: '${entry}' (BODHI_ALLOWED_HOSTS, BODHI_PUBLIC_HOST or BODHI_HOST) is not a host name or IP address`,
      );
    }
    return name;
  });
  const allowed = new Set(names.filter((name) => !isWildcardAddress(name)));
  if (server.allowedHosts.length === 0 && names.some(isLoopback)) {
    for (const alias of LOOPBACK_ALIASES) allowed.add(alias);
  }
  return allowed;
}

/**
 * The host an absolute-form request target (`GET http://name/path HTTP/1.1`) names, which
 * RFC 9112 §3.2.2 says wins over Host; undefined when it names none we could check (another
 * scheme, user info, no URL at all).
 */
function targetHostName(target: string): string | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  const http = url.protocol === 'http:' || url.protocol === 'https:';
  return http && !url.username && !url.password ? hostName(url.host) : undefined;
}

/** Whether Express takes X-Forwarded-* from some peer: `trust proxy` other than none. */
const trustsAProxy = (trust: ServerSettings['trustProxy']): boolean =>
  Array.isArray(trust) ? trust.length > 0 : trust !== false && trust !== 0;

/**
 * DNS-rebinding defence: a request naming a host this server is not gets 421 before anything
 * else runs, so it creates no session and reads none. A rebinding page's origin is the
 * attacker's name, resolved to this server's address: the browser lets it read the answers,
 * but the Host it sends is still the attacker's name.
 *
 * Every name the request gives is checked, since whichever one a part of the path believes
 * decides what it is for:
 * - `Host`, always as sent (never `req.host`, which behind a trusted proxy is the first
 *   `X-Forwarded-Host` entry: a page's own fetch can set that header, so the client would
 *   choose the name checked). A proxy in front must pass the browser's Host on.
 * - an absolute-form target's authority: Node and Express route `GET http://name/path` by its
 *   path and leave Host as it was, but the target is what the request is for.
 * - with a proxy trusted, every `X-Forwarded-Host` entry, not just the first that Express
 *   reads: a proxy that appends rather than overwrites passes the client's own entries on, and
 *   another hop may act on any of them. All entries, rather than one at most, so a chain of
 *   proxies each adding the public name still gets through. It is checked whoever the peer
 *   is: refusing a forged one from a peer Express would not believe costs nothing.
 * More than one Host header is a malformed request (RFC 9112 §3.2): 400, whatever the list
 * says, since Node keeps the first and a proxy may have routed by the last.
 *
 * The port is ignored: rebinding changes the name, not the port, and the port a request
 * names is often not ours to know (a container's published port, a proxy's, port 0 in tests,
 * the default port left out). Other origins on an allowed name (another port of localhost)
 * are held off by the browser's same-origin rules and, for writes, the same-origin check.
 *
 * `BODHI_ALLOWED_HOSTS=*` turns the name check off: for a proxy that rewrites Host to a name
 * of its own and checks the public name itself.
 */
@Injectable()
export class AllowedHostMiddleware implements NestMiddleware {
  private readonly allowed: ReadonlySet<string> | 'any';
  private readonly checksForwardedHost: boolean;

  constructor(settings: SettingService) {
    this.allowed = allowedHostNames(settings.server);
    this.checksForwardedHost = trustsAProxy(settings.server.trustProxy);
  }

  use(req: Request, _res: Response, next: NextFunction): void {
    if ((req.headersDistinct.host?.length ?? 0) > 1) {
      return next(ApiError.badRequest('duplicate_host', 'The request has more than one Host'));
    }
    const allowed = this.allowed;
    if (allowed === 'any') return next();
    const names = this.namesOf(req);
    if (names.every((name) => name !== undefined && allowed.has(name))) return next();
    next(
      new ApiError(
        HttpStatus.MISDIRECTED,
        'invalid_request_error',
        'host_not_allowed',
        names.includes(undefined)
          ? 'The request names no valid host'
          : 'This server does not answer for the host the request names',
      ),
    );
  }

  /** Each host the request names, in one spelling; undefined for one that is no host. */
  private namesOf(req: Request): (string | undefined)[] {
    const names = [hostName(req.headers.host)];
    // Origin-form targets start with '/'; anything else must name an allowed host itself.
    if (!req.originalUrl.startsWith('/')) names.push(targetHostName(req.originalUrl));
    if (this.checksForwardedHost) {
      for (const line of req.headersDistinct['x-forwarded-host'] ?? []) {
        names.push(...line.split(',').map((entry) => hostName(entry.trim())));
      }
    }
    return names;
  }
}
