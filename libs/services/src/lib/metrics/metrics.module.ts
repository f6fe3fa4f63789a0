import { Global, Module } from '@nestjs/common';
import { BodhiMetrics } from './bodhi-metrics.js';

/**
 * One `BodhiMetrics` per application, global so the session store, the auth layer and the
 * routes count into the same registry. Modules used without it (a store on its own) count
 * into a private instance nobody serves.
 */
@Global()
@Module({ providers: [BodhiMetrics], exports: [BodhiMetrics] })
export class MetricsModule {}
