import { PROBE_PATHS } from '@bodhi/routes-app';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import type { LevelWithSilent } from 'pino';
import type { Options } from 'pino-http';
import { capped } from './logging.redact.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * A caller's request id we keep: short, and only characters that cannot break a log line or a
 * header (no newline, quote or space); anything else (10 kB, a second header joined by ", ")
 * gets an id of our own.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** One trailing slash after at least one character (Express routes `/x/` as `/x`). */
const TRAILING_SLASH = /(.)\/$/;

/**
 * Every pattern this module applies to a request's text: a spec runs a ReDoS checker over
 * them, so a pattern added here must be added to this list.
 */
export const REQUEST_LOG_PATTERNS: readonly RegExp[] = [SANE_REQUEST_ID, TRAILING_SLASH];

/** The id of a request: the caller's X-Request-Id when sane, else a new UUID. */
export function requestId(header: string | string[] | undefined): string {
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * Probes (load balancers, kubelets every few seconds) and scrapes answered 2xx/3xx get no
 * request line: they would flood the log and say nothing. One that fails or is refused (a
 * health check answering 503 while the store is down, a scrape refused as cross-origin, a
 * scan of /metrics while metrics are off) is logged like any other request. All get an id.
 */
const UNLOGGED_PATHS = new Set([...PROBE_PATHS.map((path) => `/${path}`), '/metrics']);

/** The path of a request, without its query (the callback's carries `code` and `state`). */
function pathOf(req: IncomingMessage): string {
  const url = (req as Request).originalUrl ?? req.url ?? '';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** A path as Express routes it: case-insensitive, with or without one trailing slash. */
const routedPath = (path: string) => path.toLowerCase().replace(TRAILING_SLASH, '$1');

/**
 * A completed request's level: a 5xx is the server failing (a store outage) → error; a 4xx is
 * a refused or failed client request (a 421 from a misconfigured BODHI_ALLOWED_HOSTS, a 429,
 * a cross-origin 403) → warn, so a server at BODHI_LOG_LEVEL=warn shows them without its
 * successful traffic; everything else info, but for a successful probe or scrape (silent).
 */
function requestLevel(req: IncomingMessage, res: ServerResponse, err?: Error): LevelWithSilent {
  if (err || res.statusCode >= 500) return 'error';
  if (res.statusCode >= 400) return 'warn';
  return UNLOGGED_PATHS.has(routedPath(pathOf(req))) ? 'silent' : 'info';
}

const cappedOrUndefined = (value: string | undefined) =>
  value === undefined ? undefined : capped(value);

/**
 * pino-http's options: the request id (echoed as X-Request-Id on every answer, refusals and
 * 404s included, and bound as `reqId` to every line logged while serving the request), and one
 * lean line per completed request: method, path, client address, status, response time. Not
 * its headers: the cookie and authorization never reach a request line (and are redacted by
 * the logger, should any line carry them), nor the user agent or referer. The path and the
 * client address (with `trust proxy`, whatever X-Forwarded-For says) are the client's to
 * choose: each is capped at MAX_LOGGED_FIELD characters, with a marker of the cut.
 */
export function requestLogging(): Options {
  return {
    genReqId(req, res) {
      const id = requestId(req.headers['x-request-id']);
      res.setHeader(REQUEST_ID_HEADER, id);
      return id;
    },
    // In-request lines carry the id alone, not the whole request.
    quietReqLogger: true,
    customLogLevel: requestLevel,
    wrapSerializers: false,
    serializers: {
      req: (req: IncomingMessage) => ({
        method: req.method,
        url: capped(pathOf(req)),
        remoteAddress: cappedOrUndefined((req as Request).ip ?? req.socket?.remoteAddress),
      }),
      res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
    },
    // A 5xx line names the status, not a made-up Error and its stack: the error filter logs
    // the real one.
    customErrorObject: (_req, res, _err, val: { responseTime: number }) => ({
      res,
      responseTime: val.responseTime,
    }),
  };
}
