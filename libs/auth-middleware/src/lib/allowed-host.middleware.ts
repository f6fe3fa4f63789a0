import { HttpStatus, Injectable, NestMiddleware } from '@nestjs/common';
import { SettingService, type ServerSettings } from '@bodhi/services';
import { isIP } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './api-error.js';

/** Names every loopback name or address of this machine goes by in a browser. */
const LOOPBACK_ALIASES = ['localhost', '127.0.0.1', '[::1]'];
/** Bind addresses meaning "every interface": no browser names a server so. */
const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '[::]']);

/** `name[:port]` with a registered name or IPv4 address, or `[IPv6][:port]`; nothing else. */
const HOST = /^(?:(\[[0-9a-f:.]+\])|([a-z0-9._-]+))(?::\d{1,5})?$/i;

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
  const allowed = new Set(names.filter((name) => !WILDCARD_ADDRESSES.has(name)));
  if (server.allowedHosts.length === 0 && names.some(isLoopback)) {
    for (const alias of LOOPBACK_ALIASES) allowed.add(alias);
  }
  return allowed;
}

/**
 * DNS-rebinding defence: a request naming a host this server is not (`Host`, or a trusted
 * proxy's `X-Forwarded-Host`, as Express picks it by `trust proxy`) gets 421 before anything
 * else runs, so it creates no session and reads none. A rebinding page's origin is the
 * attacker's name, resolved to this server's address: the browser lets it read the answers,
 * but the Host it sends is still the attacker's name.
 *
 * The port is ignored: rebinding changes the name, not the port, and the port a request
 * names is often not ours to know (a container's published port, a proxy's, port 0 in tests,
 * the default port left out). Other origins on an allowed name (another port of localhost)
 * are held off by the browser's same-origin rules and, for writes, the same-origin check.
 *
 * `BODHI_ALLOWED_HOSTS=*` turns the check off: for a proxy that rewrites Host to a name of
 * its own and checks the public name itself.
 */
@Injectable()
export class AllowedHostMiddleware implements NestMiddleware {
  private readonly allowed: ReadonlySet<string> | 'any';

  constructor(settings: SettingService) {
    this.allowed = allowedHostNames(settings.server);
  }

  use(req: Request, _res: Response, next: NextFunction): void {
    if (this.allowed === 'any') return next();
    const name = hostName(req.host);
    if (name !== undefined && this.allowed.has(name)) return next();
    next(
      new ApiError(
        HttpStatus.MISDIRECTED,
        'invalid_request_error',
        'host_not_allowed',
        name === undefined
          ? 'The request names no valid host'
          : 'This server does not answer for the host the request names',
      ),
    );
  }
}
