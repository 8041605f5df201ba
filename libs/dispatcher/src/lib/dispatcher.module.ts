import { randomUUID } from 'node:crypto';
import { DynamicModule, Module, Provider } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import type { MessageTransport } from '@waybill/messaging';
import { ChannelReplica, CONFIG, LOGGER, MetricsRegistry, serviceDatabase, TRANSPORT, WaybillConfig } from '@waybill/platform';
import { SecretBox } from '@waybill/security';
import { ChannelHealthStore } from './adapters/db/channel-health.repository';
import { DISPATCHER_DB, DISPATCHER_MIGRATIONS } from './adapters/db/dispatcher.migrations';
import { FinishedDeliveries } from './adapters/db/finished-deliveries.repository';
import { ParkedDeliveries } from './adapters/db/parked-deliveries.repository';
import { ChannelDeliveryController, ChannelHealthListController } from './adapters/http/channel-delivery.controller';
import { EgressController } from './adapters/http/egress.controller';
import { DispatcherEventsController } from './adapters/events/dispatcher-events.controller';
import { DispatcherMetrics, registerPullMetrics } from './adapters/metrics/dispatcher.metrics';
import { PartnerClient } from './adapters/partner/partner-client';
import { PartnerGateway } from './adapters/partner/partner-gateway';
import { AlertDelivery } from './application/alert-delivery';
import { ChannelTools } from './application/channel-tools.service';
import { DeliveryService, SCHEMA } from './application/delivery.service';
import { Dispatcher } from './application/engine/dispatcher';
import { PartnerConnections } from './application/engine/ports';
import { EventPublisher } from './application/engine/event-publisher';
import { PullQueue } from './application/pull/pull-queue';
import { DEFAULT_DISPATCHER_OPTIONS, DISPATCHER_OPTIONS, DispatcherOptions } from './dispatcher.options';

const providers: Provider[] = [
  serviceDatabase(DISPATCHER_DB, { schema: SCHEMA, migrations: DISPATCHER_MIGRATIONS }),
  ChannelReplica,
  {
    provide: PartnerClient,
    inject: [CONFIG, DISPATCHER_OPTIONS],
    useFactory: (config: WaybillConfig, options: DispatcherOptions) =>
      // A request found slow moves to the slow share, which may then run over: at most twice the budget.
      new PartnerClient({
        allowPrivateTargets: config.allowPrivateTargets,
        egress: { proxy: config.egress.proxy, sourceAddress: config.egress.sourceAddress },
        connectionsPerOrigin: 2 * options.maxInFlight,
      }),
  },
  { provide: PartnerConnections, useExisting: PartnerClient },
  { provide: PartnerGateway, inject: [PartnerClient, SecretBox], useFactory: (client: PartnerClient, box: SecretBox) => new PartnerGateway(client, box) },
  {
    provide: ParkedDeliveries,
    inject: [DISPATCHER_DB, TRANSPORT],
    // A new holder id for each process: a restarted instance is not the one that held the leases.
    useFactory: (ds: DataSource, transport: MessageTransport) => new ParkedDeliveries(ds, transport.outbox(SCHEMA), randomUUID()),
  },
  { provide: ChannelHealthStore, inject: [DISPATCHER_DB], useFactory: (ds: DataSource) => new ChannelHealthStore(ds) },
  { provide: EventPublisher, inject: [TRANSPORT], useFactory: (transport: MessageTransport) => new EventPublisher(transport) },
  {
    provide: PullQueue,
    inject: [DISPATCHER_DB, TRANSPORT, CONFIG, ChannelReplica, LOGGER, MetricsRegistry],
    useFactory: (ds: DataSource, transport: MessageTransport, config: WaybillConfig, channels: ChannelReplica, log: Logger, registry: MetricsRegistry) => {
      const pull = new PullQueue(ds, transport.outbox(SCHEMA), config.databaseUrl as string, channels, log.child({ component: 'pull' }));
      registerPullMetrics(registry, pull);
      return pull;
    },
  },
  {
    provide: Dispatcher,
    inject: [ChannelReplica, PartnerGateway, ParkedDeliveries, ChannelHealthStore, PullQueue, EventPublisher, LOGGER, DISPATCHER_OPTIONS, TRANSPORT, MetricsRegistry, DISPATCHER_DB],
    useFactory: (
      channels: ChannelReplica,
      gateway: PartnerGateway,
      parked: ParkedDeliveries,
      health: ChannelHealthStore,
      pull: PullQueue,
      publisher: EventPublisher,
      log: Logger,
      options: DispatcherOptions,
      transport: MessageTransport,
      registry: MetricsRegistry,
      ds: DataSource,
    ) => {
      let dispatcher: Dispatcher | null = null;
      const metrics = new DispatcherMetrics(registry, () => dispatcher);
      dispatcher = new Dispatcher({
        channels, gateway, parked, finished: new FinishedDeliveries(ds), health, pull, publisher, metrics, log: log.child({ component: 'dispatcher' }), options, soleInstance: transport.kind === 'embedded',
      });
      return dispatcher;
    },
  },
  {
    provide: AlertDelivery,
    inject: [LOGGER, ChannelReplica, PartnerGateway],
    useFactory: (log: Logger, channels: ChannelReplica, gateway: PartnerGateway) => new AlertDelivery(log.child({ component: 'alerts' }), channels, gateway),
  },
  {
    provide: ChannelTools,
    inject: [ChannelReplica, Dispatcher, ChannelHealthStore, PartnerGateway, PullQueue],
    useFactory: (channels: ChannelReplica, dispatcher: Dispatcher, health: ChannelHealthStore, gateway: PartnerGateway, pull: PullQueue) =>
      new ChannelTools(channels, dispatcher, health, gateway, pull),
  },
  DeliveryService,
];

/**
 * The dispatcher: delivers to partners through per-channel breakers and limits, keeps every
 * channel's parked line and the pull queue, reports each attempt as events, delivers alerts to
 * alert channels, and answers the channels' health, test and messages calls.
 */
@Module({
  controllers: [ChannelDeliveryController, ChannelHealthListController, EgressController, DispatcherEventsController],
  providers: [{ provide: DISPATCHER_OPTIONS, useValue: DEFAULT_DISPATCHER_OPTIONS }, ...providers],
})
export class DispatcherModule {
  /** The module with some tunables changed (benchmarks, tests). */
  static withOptions(options: Partial<DispatcherOptions>): DynamicModule {
    // Providers of a dynamic module are added after the static ones: this one replaces the defaults.
    return { module: DispatcherModule, providers: [{ provide: DISPATCHER_OPTIONS, useValue: { ...DEFAULT_DISPATCHER_OPTIONS, ...options } }] };
  }
}
