import { Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import {
  createSessionDataSource,
  createSessionRevocations,
  createSessionStore,
  SessionCacheRuntime,
  startSessionCache,
} from './store/session-data-source.factory.js';
import {
  InjectResolvedSessionOptions,
  InjectSessionDataSource,
  RESOLVED_SESSION_OPTIONS,
  SESSION_CACHE,
  SESSION_DATA_SOURCE,
  SESSION_METRICS,
} from './session.constants.js';
import {
  ConfigurableSessionModule,
  SESSION_MODULE_OPTIONS,
} from './config/session.module-definition.js';
import {
  type ResolvedSessionOptions,
  resolveSessionOptions,
  SessionModuleOptions,
} from './config/session.options.js';
import { SessionPruner } from './store/session.pruner.js';
import { DefaultSessionService } from './session.service.js';
import { SessionStoreBackend } from './store/session-store.backend.js';
import { SessionLock } from './locks/session-lock.js';
import { SessionRevocations } from '../revocation/session-revocations.js';
import { BodhiMetrics } from '../metrics/bodhi-metrics.js';
import { sessionDialect } from './dialects/index.js';

/**
 * The session store as a dynamic module: `SessionModule.forRoot({ url, secret, … })` or
 * `forRootAsync({ useFactory, inject, imports })`. The URL scheme picks the backend; the
 * DataSource is opened and migrated during bootstrap (a bad URL or an unreachable database
 * fails boot) and destroyed on application shutdown, after the pruner has stopped. The
 * serving pool (SessionLock's lock connections included: they come from it) is watched in
 * the app's metrics while the module lives; at shutdown the metrics let go of it.
 */
@Module({
  providers: [
    {
      provide: RESOLVED_SESSION_OPTIONS,
      useFactory: (options: SessionModuleOptions) => resolveSessionOptions(options),
      inject: [SESSION_MODULE_OPTIONS],
    },
    {
      provide: SESSION_METRICS,
      useFactory: (metrics?: BodhiMetrics) => metrics ?? new BodhiMetrics(),
      inject: [{ token: BodhiMetrics, optional: true }],
    },
    {
      provide: SESSION_DATA_SOURCE,
      useFactory: (options: ResolvedSessionOptions) => createSessionDataSource(options),
      inject: [RESOLVED_SESSION_OPTIONS],
    },
    {
      provide: SESSION_CACHE,
      useFactory: (ds: DataSource, options: ResolvedSessionOptions, metrics: BodhiMetrics) =>
        startSessionCache(ds, options, metrics),
      inject: [SESSION_DATA_SOURCE, RESOLVED_SESSION_OPTIONS, SESSION_METRICS],
    },
    {
      provide: SessionStoreBackend,
      useFactory: (
        ds: DataSource,
        options: ResolvedSessionOptions,
        metrics: BodhiMetrics,
        cache: SessionCacheRuntime | null,
      ) => {
        if (options.encryptionKeys.length === 0) {
          new Logger('SessionModule').warn(
            'Session data is stored unencrypted; set BODHI_SESSION_ENCRYPTION_KEYS to encrypt it at rest',
          );
        }
        return createSessionStore(ds, options, metrics, cache?.cache);
      },
      inject: [SESSION_DATA_SOURCE, RESOLVED_SESSION_OPTIONS, SESSION_METRICS, SESSION_CACHE],
    },
    {
      provide: SessionRevocations,
      useFactory: (
        ds: DataSource,
        options: ResolvedSessionOptions,
        metrics: BodhiMetrics,
        cache: SessionCacheRuntime | null,
      ) => createSessionRevocations(ds, options, metrics, cache?.cache),
      inject: [SESSION_DATA_SOURCE, RESOLVED_SESSION_OPTIONS, SESSION_METRICS, SESSION_CACHE],
    },
    {
      provide: SessionLock,
      useFactory: (ds: DataSource, options: ResolvedSessionOptions, metrics: BodhiMetrics) =>
        // Half the pool may hold locks; the rest serves the work done under them.
        new SessionLock({
          dataSource: ds,
          kind: options.target.kind,
          maxHolders: Math.max(1, Math.floor(options.poolSize / 2)),
          metrics,
        }),
      inject: [SESSION_DATA_SOURCE, RESOLVED_SESSION_OPTIONS, SESSION_METRICS],
    },
    DefaultSessionService,
    SessionPruner,
  ],
  exports: [
    DefaultSessionService,
    SessionStoreBackend,
    SessionRevocations,
    SessionPruner,
    SESSION_DATA_SOURCE,
    SESSION_CACHE,
  ],
})
export class SessionModule extends ConfigurableSessionModule implements OnApplicationShutdown {
  private readonly unwatchPool?: () => void;

  constructor(
    @InjectSessionDataSource() private readonly dataSource: DataSource,
    @InjectResolvedSessionOptions() options: ResolvedSessionOptions,
    @Inject(SESSION_METRICS) metrics: BodhiMetrics,
    @Inject(SESSION_CACHE) private readonly cache: SessionCacheRuntime | null,
  ) {
    super();
    const poolCounts = sessionDialect(options.target.kind).poolCounts?.(dataSource);
    this.unwatchPool = poolCounts && metrics.watchPool(poolCounts);
  }

  async onApplicationShutdown(): Promise<void> {
    this.unwatchPool?.();
    await this.cache?.listener.stop();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
