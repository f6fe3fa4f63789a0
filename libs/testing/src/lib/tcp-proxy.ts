import * as net from 'node:net';

/**
 * A TCP forwarder on a port of its own in front of a database URL's host and port: what a
 * test puts between one client and PostgreSQL to decide when that client may (re)connect,
 * without touching the database or anyone else's connections. `hold()` parks new
 * connections (accepted, nothing forwarded: the client waits as on a slow network) until
 * `release()`; connections already forwarded are left alone. `stall()` makes the
 * connections already forwarded go silent towards their clients, as a link that drops
 * packets does: nothing is closed, nothing arrives.
 */
export class TcpProxy {
  private held = false;
  private readonly parked: net.Socket[] = [];
  /** Each connection to the target, and the client it forwards to. */
  private readonly upstreams = new Map<net.Socket, net.Socket>();
  private readonly sockets = new Set<net.Socket>();

  private readonly server = net.createServer((socket) => this.accepted(socket));
  private readonly target: URL;

  private constructor(target: string) {
    this.target = new URL(target);
  }

  /** A proxy on a free localhost port forwarding to the host and port of `url`. */
  static async start(url: string): Promise<TcpProxy> {
    const proxy = new TcpProxy(url);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', resolve);
    });
    return proxy;
  }

  /** The target's URL with the proxy's host and port: connect here to be forwarded. */
  get url(): string {
    const through = new URL(this.target.href);
    through.hostname = '127.0.0.1';
    through.port = String((this.server.address() as net.AddressInfo).port);
    return through.href;
  }

  /** New connections wait, unforwarded, until `release()`. */
  hold(): void {
    this.held = true;
  }

  /** Forwards the parked connections, and new ones from now on. */
  release(): void {
    this.held = false;
    for (const socket of this.parked.splice(0)) this.forward(socket);
  }

  /** What the target sends on the connections forwarded so far no longer reaches their clients. */
  stall(): void {
    for (const [upstream, socket] of this.upstreams) {
      upstream.unpipe(socket);
      upstream.pause();
    }
  }

  /** What `stall()` kept back reaches the clients again, and what follows it. */
  unstall(): void {
    for (const [upstream, socket] of this.upstreams) upstream.pipe(socket);
  }

  /**
   * The local ports of the connections the proxy opened to the target: their
   * `pg_stat_activity.client_port`, to tell them from every other client of the database.
   */
  upstreamPorts(): number[] {
    return [...this.upstreams.keys()].flatMap((s) =>
      s.localPort === undefined ? [] : [s.localPort],
    );
  }

  /** Stops listening and ends every connection through it. */
  async close(): Promise<void> {
    for (const socket of [...this.sockets, ...this.upstreams.keys()]) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accepted(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    // A client that gives up while parked is no reason to fail the test.
    socket.on('error', () => socket.destroy());
    if (this.held) this.parked.push(socket);
    else this.forward(socket);
  }

  private forward(socket: net.Socket): void {
    if (socket.destroyed) return;
    const upstream = net.connect(Number(this.target.port || 5432), this.target.hostname);
    this.upstreams.set(upstream, socket);
    upstream.on('close', () => {
      this.upstreams.delete(upstream);
      socket.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    socket.on('close', () => upstream.destroy());
    socket.pipe(upstream).pipe(socket);
  }
}
