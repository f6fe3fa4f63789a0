import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy answers in place of its target while it fails. */
export interface ProxyAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A gateway's error page: what nginx answers when the service behind it is down. */
export const BAD_GATEWAY_PAGE: ProxyAnswer = {
  status: 502,
  headers: { 'content-type': 'text/html' },
  body: '<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>',
};

/** An HTML page answered 200: a captive portal's, or a login page a proxy puts in front. */
export const HTML_PAGE: ProxyAnswer = {
  status: 200,
  headers: { 'content-type': 'text/html' },
  body: '<!doctype html><html><body><p>Please sign in to continue.</p></body></html>',
};

/**
 * An HTTP reverse proxy on a port of its own (port 0, reported by `url`) in front of one
 * target, which a test can make fail: from `fail(answer)` on, every request gets `answer`
 * instead of the target's, until `heal()`. Requests are forwarded as they came (the Host
 * header too, so a target that builds URLs from it names the proxy). What a test puts in
 * front of the identity provider to have it answer as a broken gateway does.
 */
export class HttpFaultProxy {
  private target?: URL;
  private failing?: ProxyAnswer;
  private readonly server = http.createServer((req, res) => this.handle(req, res));

  /** A proxy listening on a free localhost port; it forwards once `forwardTo` names a target. */
  static async start(): Promise<HttpFaultProxy> {
    const proxy = new HttpFaultProxy();
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', resolve);
    });
    return proxy;
  }

  /** Where clients reach the proxy: `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Forwards every request to `target` (an origin) from now on. */
  forwardTo(target: string): void {
    this.target = new URL(target);
  }

  /** Answers every request with `answer`, forwarding none, until `heal()`. */
  fail(answer: ProxyAnswer): void {
    this.failing = answer;
  }

  heal(): void {
    this.failing = undefined;
  }

  /** Stops listening and ends every connection through it. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = this.failing ?? (this.target ? undefined : BAD_GATEWAY_PAGE);
    if (answer) {
      // Read the request first: a client still sending when the answer comes may see a reset.
      req.resume();
      req.on('end', () => res.writeHead(answer.status, answer.headers).end(answer.body));
      return;
    }
    const target = this.target as URL;
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        // A connection per request, as a client's own would be: a pooled one idle across
        // the target's pause is closed by the target as it resumes, the request with it.
        agent: false,
      },
      (answered) => {
        res.writeHead(answered.statusCode ?? 502, answered.headers);
        answered.pipe(res);
      },
    );
    // The target gone or reset: the client's connection goes too, as it would through a
    // gateway that drops it.
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }
}
