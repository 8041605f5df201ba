import type { Logger } from 'pino';
import { EventType, Topics, WaybillEvent } from '@waybill/contracts';
import { classify } from '@waybill/delivery';
import { delay, EventConsumer, MessageTransport } from '@waybill/messaging';
import type { ChannelReplica } from '@waybill/platform';
import type { PartnerGateway } from '../adapters/partner/partner-gateway';
import { buildAlertRequest } from '../domain/partner-request';

const GROUP = 'waybill.dispatcher.alerts';
const ALERT_TYPES: readonly EventType[] = ['channel.circuit-opened.v1', 'channel.circuit-closed.v1', 'delivery.exhausted.v1'];
/** Tries of one alert, and the pause before the next (ms). */
const TRIES = 3;
const PAUSE_MS = 1_000;

/**
 * Delivers each alert of `waybill.alerts` to its organisation's alert channel, when one is set: the
 * alert event as JSON, with the channel's auth, signature and headers. Alert requests go around the
 * breakers and the retry policies, so that delivering an alert never raises another one (no loop
 * when the alert channel is the one in trouble); a few tries, then it is logged and left.
 */
export class AlertDelivery {
  private readonly consumer = new EventConsumer();
  private readonly abort = new AbortController();

  constructor(
    private readonly transport: MessageTransport,
    private readonly log: Logger,
    private readonly channels: ChannelReplica,
    private readonly gateway: PartnerGateway,
  ) {}

  async start(): Promise<void> {
    await this.consumer.start(this.transport, this.log, {
      group: GROUP,
      topics: [Topics.alerts],
      types: ALERT_TYPES,
      partitionsConcurrently: this.transport.partitions,
      handle: async (items) => {
        const settings = new Map<string, Promise<string | null>>();
        const alertChannelOf = (orgId: string) => {
          let id = settings.get(orgId);
          if (!id) settings.set(orgId, (id = this.channels.orgSettings(orgId).then((s) => s.alertChannelId)));
          return id;
        };
        await Promise.all(items.map(async (item) => (item.kind === 'event' ? this.deliver(item.event, await alertChannelOf(item.event.orgId)) : undefined)));
      },
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.consumer.stop();
  }

  private async deliver(alert: WaybillEvent, channelId: string | null): Promise<void> {
    if (!channelId) return;
    for (let tries = 1; tries <= TRIES && !this.abort.signal.aborted; tries++) {
      // The channel as it is at each try: a fixed URL or new credentials apply at once.
      const channel = await this.channels.channel(alert.orgId, channelId);
      if (!channel || channel.type !== 'HTTP' || !channel.url || !channel.enabled) return;
      const result = await this.gateway.send(channel, (secrets) => buildAlertRequest(channel, alert, secrets, new Date()), this.abort.signal);
      const outcome = classify(result.exchange);
      if (outcome === 'ACCEPTED' || outcome === 'DISPATCHED') return;
      const failure = { alert: alert.type, eventId: alert.eventId, channelId, outcome, error: result.error, statusCode: result.exchange.kind === 'answered' ? result.exchange.statusCode : null };
      if (outcome !== 'RETRYABLE' || tries === TRIES) {
        this.log.warn(failure, 'alert not delivered to the alert channel');
        return;
      }
      await delay(PAUSE_MS * tries, this.abort.signal);
    }
  }
}
