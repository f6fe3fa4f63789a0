import type { OnApplicationShutdown } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { pino, type DestinationStream } from 'pino';
import { logDestination, loggerOptions, type LoggingConfig } from './logging.js';

/** An app's logging settings, and its lines' destination (in its format). */
interface Member {
  config: LoggingConfig;
  /** The destination it was given; undefined = stdout. */
  to?: DestinationStream;
  destination: DestinationStream;
}

const sameSettings = (a: Member, b: Member) =>
  a.config.level === b.config.level && a.config.format === b.config.format && a.to === b.to;

/**
 * The logging of every app in this process. nestjs-pino builds ONE pino-http, hence one pino
 * logger, per process, for the first app that asks (its rootLogger.js), and its index exports
 * no way to reset it (PinoLogger.js's __resetOutOfContextForTests is not exported, and would
 * leave an app still open with no logger). So that logger writes into `stream`, which passes
 * each line to the oldest open app's destination, at that app's level: while it runs, the
 * apps started after it log with its settings (each is told so in one warn line); once it
 * closes, the next oldest's apply, and with none open lines are dropped, so no line goes to
 * a closed app's destination.
 */
class ProcessLogging {
  /** Open apps, oldest first: the first one's settings apply. */
  private readonly members: Member[] = [];

  readonly stream: DestinationStream = {
    write: (line: string) => {
      this.members[0]?.destination.write(line);
    },
  };

  /** Adds an app with `config`; the function returned removes it (when the app closes). */
  join(config: LoggingConfig, to?: DestinationStream): () => void {
    const member: Member = { config, to, destination: logDestination(config.format, to) };
    const active = this.members[0];
    this.members.push(member);
    if (!active) this.followOldest();
    else if (!sameSettings(active, member)) {
      pino(loggerOptions(active.config), this.stream).warn(
        { context: 'BodhiLogging' },
        `Logging settings of a server started in this process (level ${config.level}, format ${config.format}${to ? ', its own destination' : ''}) are ignored: one logger serves the process, and the first running server's (level ${active.config.level}, format ${active.config.format}) apply while it runs`,
      );
    }
    return () => this.leave(member);
  }

  private leave(member: Member): void {
    const index = this.members.indexOf(member);
    if (index === -1) return;
    this.members.splice(index, 1);
    if (index === 0) this.followOldest();
  }

  /**
   * The one logger (and the per-request children it makes from now on) at the oldest open
   * app's level. Before the first app has built it, that app's options carry the level.
   */
  private followOldest(): void {
    const oldest = this.members[0];
    if (oldest && PinoLogger.root) PinoLogger.root.level = oldest.config.level;
  }
}

export const processLogging = new ProcessLogging();

/** Holds an app's place in processLogging from its creation until it shuts down. */
export class ProcessLoggingMembership implements OnApplicationShutdown {
  constructor(private readonly leave: () => void) {}

  onApplicationShutdown(): void {
    this.leave();
  }
}
