import { Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';
import { MetricsRegistry } from './metrics.registry';
import { TransportMetrics } from './transport.metrics';

/**
 * `/metrics` for every process: the registry service modules add to (exported), the process's
 * own metrics, consumer lag and outbox backlog. Imported by the platform module.
 */
@Module({
  controllers: [MetricsController],
  providers: [MetricsRegistry, TransportMetrics],
  exports: [MetricsRegistry],
})
export class MetricsModule {}
