import type { RunningBodhiServer } from './server-app.factory.js';

/**
 * What a server process sends its parent over the IPC channel, when it was started with one,
 * once it listens: where it is. A test kit or supervisor that starts servers on port 0 waits
 * for this message rather than choosing a port for them or polling one.
 */
export const SERVER_LISTENING = 'bodhi-server:listening';

export interface ServerListening {
  type: typeof SERVER_LISTENING;
  /** The server's public URL, on the port it was given. */
  url: string;
  /** The port of /metrics when it has one of its own (BODHI_METRICS_PORT). */
  metricsPort?: number;
}

/**
 * Sends SERVER_LISTENING when this process has an IPC channel (nothing otherwise), then lets
 * the channel go so that it never keeps the process alive. Only an entry point calls this: a
 * library has no business talking to whatever parent its process has.
 */
export function announceListening(server: RunningBodhiServer): void {
  if (!process.send) return;
  const message: ServerListening = {
    type: SERVER_LISTENING,
    url: server.url,
    metricsPort: server.metricsPort,
  };
  process.send(message);
  process.channel?.unref();
}
