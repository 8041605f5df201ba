import { Module } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { ChannelState, DeliveryRequestedV1, EventData, EventType, TOPIC_SPECS, Topics, WaybillEvent } from '@waybill/contracts';
import { EmbeddedTransport, eventMessage, KafkaTransport, MessageTransport, silentLog, subscribeEvents, Subscription } from '@waybill/messaging';
import { generateApiKey, newId, RunningService, startService } from '@waybill/platform';
import { SecretBox } from '@waybill/security';
import { ApiClient, createTestDatabase, testKafkaBrokers, uniqueName } from '@waybill/testing';
import { DispatcherModule } from '../lib/dispatcher.module';
import type { DispatcherOptions } from '../lib/dispatcher.options';
import { channelState } from './channel-state';

export type Mode = 'kafka' | 'embedded';

/** Partitions of the test topics: few, so that groups join quickly. */
const PARTITIONS = 3;

export { channelState };

/** Every event the dispatcher published that a test reads: transaction events and alerts, as they arrive. */
export class EventLog {
  readonly events: WaybillEvent[] = [];
  private waiters: Array<() => void> = [];

  add(e: WaybillEvent): void {
    this.events.push(e);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  of<T extends EventType>(type: T, filter: (data: EventData<T>) => boolean = () => true): EventData<T>[] {
    return this.events.filter((e) => e.type === type).map((e) => e.data as EventData<T>).filter(filter);
  }

  /** The events of one transaction, by type, in the order they arrived. */
  forTransaction(transactionId: string): WaybillEvent[] {
    return this.events.filter((e) => (e.data as { transactionId?: string }).transactionId === transactionId);
  }

  /** Resolves with what `read` returns once `until` holds for it; rejects after `timeoutMs` saying what it saw last. */
  async waitFor<T>(read: () => T, until: (v: T) => boolean, timeoutMs = 15_000, what = 'events'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = read();
      if (until(v)) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what} not seen within ${timeoutMs} ms; last: ${JSON.stringify(v).slice(0, 2_000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for `count` events of `type` (matching `filter`) and returns them. */
  waitForType<T extends EventType>(type: T, count: number, filter: (data: EventData<T>) => boolean = () => true, timeoutMs = 15_000): Promise<EventData<T>[]> {
    return this.waitFor(() => this.of(type, filter), (l) => l.length >= count, timeoutMs, `${count} × ${type}`);
  }

  /**
   * Waits until each of `transactionIds` has an outcome, and returns it: ACCEPTED, DISPATCHED,
   * REJECTED or FAILED — from an attempt whose answer ended the delivery, or a terminal event
   * (retries spent, a pull's ack, a delivery that could not be attempted).
   */
  async outcomes(transactionIds: string[], timeoutMs = 15_000): Promise<Record<string, string>> {
    const terminal: Record<string, string> = {
      'transaction.accepted.v1': 'ACCEPTED',
      'transaction.dispatched.v1': 'DISPATCHED',
      'transaction.rejected.v1': 'REJECTED',
      'transaction.failed.v1': 'FAILED',
    };
    const wanted = new Set(transactionIds);
    const read = () => {
      const out: Record<string, string> = {};
      for (const e of this.events) {
        const data = e.data as { transactionId?: string; outcome?: string };
        const id = data.transactionId;
        if (!id || !wanted.has(id) || out[id]) continue;
        const outcome = e.type === 'delivery.attempted.v1' ? (data.outcome === 'RETRYABLE' ? undefined : data.outcome) : terminal[e.type];
        if (outcome) out[id] = outcome;
      }
      return out;
    };
    return this.waitFor(read, (o) => Object.keys(o).length === transactionIds.length, timeoutMs, `outcomes of ${transactionIds.length} transactions`);
  }
}

/**
 * One dispatcher, started in this process the way its app starts it (its own database, a Kafka
 * namespace of its own or the embedded log), and the test's own connection to the same transport:
 * to publish channels and deliveries as the registry and routing would, and to read what the
 * dispatcher publishes.
 */
export class DispatcherHarness {
  readonly orgId = newId('org');
  api!: ApiClient;
  service: RunningService | null = null;
  private readonly box: SecretBox;
  private readonly apiKey: string;

  private constructor(
    readonly mode: Mode,
    readonly env: Record<string, string>,
    readonly transport: MessageTransport,
    readonly events: EventLog,
    private readonly reader: Subscription,
  ) {
    this.box = new SecretBox(env.WAYBILL_SECRET_KEY);
    const key = generateApiKey();
    this.apiKey = key.key;
    this.keyIssued = transport.publish([
      eventMessage('api-key.issued.v1', {
        orgId: this.orgId,
        key: `key_${key.prefix}`,
        data: { apiKeyId: `key_${key.prefix}`, orgId: this.orgId, keyHash: key.hash, prefix: key.prefix, createdAt: new Date().toISOString() },
      }),
    ]);
  }

  private readonly keyIssued: Promise<void>;

  static async start(mode: Mode, options: Partial<DispatcherOptions> = {}, startDispatcher = true, extraEnv: Record<string, string> = {}): Promise<DispatcherHarness> {
    const databaseUrl = await createTestDatabase();
    const env: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
      WAYBILL_KAFKA_PARTITIONS: String(PARTITIONS),
      PORT: '0',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      ...(mode === 'kafka' ? { KAFKA_BROKERS: testKafkaBrokers().join(','), WAYBILL_KAFKA_NAMESPACE: uniqueName('disp') } : {}),
      ...extraEnv,
    };
    const transport: MessageTransport =
      mode === 'kafka'
        ? await KafkaTransport.open({
            brokers: testKafkaBrokers(),
            clientId: 'dispatcher-test',
            databaseUrl,
            partitions: PARTITIONS,
            namespace: env.WAYBILL_KAFKA_NAMESPACE,
          })
        : await EmbeddedTransport.open({ url: databaseUrl, partitions: PARTITIONS });
    await transport.ensureTopics(TOPIC_SPECS);
    const events = new EventLog();
    const reader = await subscribeEvents(transport, silentLog, {
      group: uniqueName('test-reader'),
      topics: [Topics.transactionEvents, Topics.alerts],
      ephemeral: true,
      handle: async (items) => {
        for (const item of items) if (item.kind === 'event') events.add(item.event);
      },
    });
    const harness = new DispatcherHarness(mode, env, transport, events, reader);
    await harness.keyIssued;
    if (startDispatcher) await harness.startDispatcher(options);
    return harness;
  }

  /** Starts the dispatcher service in this process (a second one after `stopDispatcher`, say). */
  async startDispatcher(options: Partial<DispatcherOptions> = {}): Promise<RunningService> {
    // Short shutdown grace: a test's hanging partners need not be waited for.
    @Module({ imports: [DispatcherModule.withOptions({ shutdownGraceMs: 500, ...options })] })
    class TunedDispatcherModule {}
    this.service = await startService(
      { name: 'dispatcher', modules: [TunedDispatcherModule], defaultPort: 0, embeddedTransport: this.mode === 'embedded' },
      this.env,
    );
    this.api = new ApiClient(this.service.url, this.apiKey);
    return this.service;
  }

  async stopDispatcher(): Promise<void> {
    await this.service?.stop();
    this.service = null;
  }

  /** A client of the dispatcher's API with the key of another organisation. */
  async stranger(): Promise<ApiClient> {
    const key = generateApiKey();
    const orgId = newId('org');
    await this.transport.publish([
      eventMessage('api-key.issued.v1', {
        orgId,
        key: `key_${key.prefix}`,
        data: { apiKeyId: `key_${key.prefix}`, orgId, keyHash: key.hash, prefix: key.prefix, createdAt: new Date().toISOString() },
      }),
    ]);
    return new ApiClient(this.api.baseUrl, key.key);
  }

  encrypt(secret: string): string {
    return this.box.encrypt(secret);
  }

  /** Publishes a channel (new, or changed: its version goes up) as the registry would. */
  async channel(over: Partial<ChannelState> = {}, previous?: ChannelState): Promise<ChannelState> {
    const state = previous
      ? { ...previous, ...over, version: previous.version + 1, updatedAt: new Date().toISOString() }
      : channelState(this.orgId, over);
    await this.transport.publish([eventMessage('channel.upserted.v1', { orgId: this.orgId, key: state.id, data: state })]);
    return state;
  }

  async alertChannel(channelId: string | null): Promise<void> {
    await this.transport.publish([
      eventMessage('org.settings-changed.v1', { orgId: this.orgId, key: this.orgId, data: { orgId: this.orgId, defaultInboundChannelId: null, alertChannelId: channelId } }),
    ]);
  }

  /** A delivery of a new transaction to `channel`, as routing would request it. */
  delivery(channel: ChannelState, payload: unknown = { purchaseOrderNumber: `PO-${randomBytes(3).toString('hex')}` }): DeliveryRequestedV1 {
    const transactionId = newId('tx');
    return {
      deliveryId: newId('dl'),
      transactionId,
      channelId: channel.id,
      generation: 1,
      format: channel.format,
      transaction: {
        id: transactionId,
        relationshipId: newId('rel'),
        senderId: 'ACME',
        receiverId: 'GLOBEX',
        transactionType: '850',
        businessNumber: 'PO-1',
        stream: 'LIVE',
        createdAt: new Date().toISOString(),
      },
      payload,
    };
  }

  /** Requests deliveries (in one publish: they arrive in this order). */
  async send(...deliveries: DeliveryRequestedV1[]): Promise<DeliveryRequestedV1[]> {
    await this.transport.publish(deliveries.map((d) => eventMessage('delivery.requested.v1', { orgId: this.orgId, key: d.channelId, data: d })));
    return deliveries;
  }

  /** `n` new deliveries to `channel`, requested at once. */
  sendMany(channel: ChannelState, n: number): Promise<DeliveryRequestedV1[]> {
    return this.send(...Array.from({ length: n }, () => this.delivery(channel)));
  }

  async stop(): Promise<void> {
    await this.service?.stop().catch(() => undefined);
    await this.reader.stop().catch(() => undefined);
    await this.transport.close().catch(() => undefined);
  }
}
