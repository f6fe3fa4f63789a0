import type { Logger } from '@nestjs/common';
import type { BodhiMetrics } from '../../metrics/bodhi-metrics.js';

/**
 * Share of PostgreSQL's notification queue in use past which the listener warns (PostgreSQL
 * itself warns at half; at full, every session write fails): a listening connection of the
 * database has stopped reading.
 */
export const NOTIFY_QUEUE_WARN_AT = 0.1;

export interface NotifyQueueMonitorOptions {
  /** Where the usage is reported (`sessionCacheNotifyQueueUsage`). */
  metrics: BodhiMetrics;
  /** Share of the queue in use past which it warns. */
  warnAt: number;
  logger: Logger;
  /** The database, as logs name it. */
  where: string;
}

/**
 * How full PostgreSQL's notification queue is: the queue every instance's notifications
 * share, emptied only as far as its slowest listening connection has read. The listener
 * reads it with each of its probes (`usageColumn`, in the same statement) and reports it
 * here: a gauge, and one warning each time it passes the threshold.
 */
export class NotifyQueueMonitor {
  /** What a statement selects for `report`: the share of the queue in use. */
  static readonly usageColumn = 'pg_notification_queue_usage() AS usage';
  /** Whether the last usage read was past `warnAt`: one warning per crossing. */
  private filling = false;

  constructor(private readonly options: NotifyQueueMonitorOptions) {}

  /** Reports the usage of a statement's row that selected `usageColumn` (none: 0). */
  report(row: Record<string, unknown> | undefined): void {
    const usage = Number(row?.usage ?? 0);
    const { metrics, warnAt, logger, where } = this.options;
    metrics.sessionCacheNotifyQueueUsage.set(usage);
    const filling = usage >= warnAt;
    if (filling && !this.filling) {
      logger.warn(
        `PostgreSQL's notification queue is ${(usage * 100).toFixed(1)}% full on ${where}: ` +
          'a connection listening on this database has stopped reading (a frozen instance?). ' +
          'At full, every session write fails: end that connection (pg_terminate_backend)',
      );
    } else if (!filling && this.filling) {
      logger.log(`PostgreSQL's notification queue is emptying on ${where}`);
    }
    this.filling = filling;
  }
}
