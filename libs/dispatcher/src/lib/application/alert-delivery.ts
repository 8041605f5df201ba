import type { Logger } from 'pino';
import type { EventType, WaybillEvent } from '@waybill/contracts';
import { classify } from '@waybill/delivery';
import { Consumed, delay } from '@waybill/messaging';
import type { ChannelReplica } from '@waybill/platform';
import type { PartnerPort } from './engine/ports';
import { buildAlertRequest } from '../domain/partner-request';

/** The dispatcher's consumer group of `waybill.alerts`. */
export const ALERT_DELIVERY_GROUP = 'waybill.dispatcher.alerts';
export const ALERT_TYPES: readonly EventType[] = ['channel.circuit-opened.v1', 'channel.circuit-closed.v1', 'delivery.exhausted.v1'];
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
  constructor(
    private readonly log: Logger,
    private readonly channels: ChannelReplica,
    private readonly gateway: PartnerPort,
  ) {}

  /**
   * A batch read by {@link ALERT_DELIVERY_GROUP}: each alert delivered (or given up). When
   * `stopping` aborts, tries still to come are left (the service is shutting down).
   */
  async handle(items: readonly Consumed[], stopping: AbortSignal): Promise<void> {
    const settings = new Map<string, Promise<string | null>>();
    const alertChannelOf = (orgId: string) => {
      let id = settings.get(orgId);
      if (!id) settings.set(orgId, (id = this.channels.orgSettings(orgId).then((s) => s.alertChannelId)));
      return id;
    };
    await Promise.all(
      items.map(async (item) => (item.kind === 'event' ? this.deliver(item.event, await alertChannelOf(item.event.orgId), stopping) : undefined)),
    );
  }

  private async deliver(alert: WaybillEvent, channelId: string | null, stopping: AbortSignal): Promise<void> {
    if (!channelId) return;
    for (let tries = 1; tries <= TRIES && !stopping.aborted; tries++) {
      // The channel as it is at each try: a fixed URL or new credentials apply at once.
      const channel = await this.channels.channel(alert.orgId, channelId);
      if (!channel || channel.type !== 'HTTP' || !channel.url || !channel.enabled) return;
      const result = await this.gateway.send(channel, (secrets) => buildAlertRequest(channel, alert, secrets, new Date()), stopping);
      const outcome = classify(result.exchange);
      if (outcome === 'ACCEPTED' || outcome === 'DISPATCHED') return;
      const failure = { alert: alert.type, eventId: alert.eventId, channelId, outcome, error: result.error, statusCode: result.exchange.kind === 'answered' ? result.exchange.statusCode : null };
      if (outcome !== 'RETRYABLE' || tries === TRIES) {
        this.log.warn(failure, 'alert not delivered to the alert channel');
        return;
      }
      await delay(PAUSE_MS * tries, stopping);
    }
  }
}
