import { randomUUID } from 'node:crypto';
import type { ChannelState } from '@waybill/contracts';
import { AttemptOutcome } from '@waybill/contracts';
import { CircuitState, classify } from '@waybill/delivery';
import { ChannelReplica, ProblemError, Problems } from '@waybill/platform';
import type { ChannelHealth, HealthReader, PartnerPort } from './engine/ports';
import { buildPartnerRequest, testDelivery } from '../domain/partner-request';
import type { Dispatcher } from './engine/dispatcher';
import type { PullQueue } from './pull/pull-queue';

export interface TestResult {
  statusCode: number | null;
  outcome: AttemptOutcome;
  durationMs: number;
  error?: string;
}

/** The channel endpoints the dispatcher answers: health, test, and the pull queue's calls. */
export class ChannelTools {
  constructor(
    private readonly channels: ChannelReplica,
    private readonly dispatcher: Dispatcher,
    private readonly health: HealthReader,
    private readonly gateway: PartnerPort,
    private readonly pull: PullQueue,
  ) {}

  /** The organisation's channel; 404 for an unknown id or another organisation's. */
  async channel(orgId: string, id: string): Promise<ChannelState> {
    const channel = await this.channels.channel(orgId, id);
    if (!channel) throw Problems.notFound('Channel', id);
    return channel;
  }

  /** A PULL channel of the organisation; 409 for a push channel. */
  async pullChannel(orgId: string, id: string): Promise<ChannelState> {
    const channel = await this.channel(orgId, id);
    if (channel.type !== 'PULL') throw Problems.conflict('CHANNEL_NOT_PULL', `Channel ${id} is pushed to (type HTTP): it has no messages to fetch.`);
    return channel;
  }

  /**
   * The channel's health as its owner reports it: from memory when this instance owns the
   * channel's partition, else as the owner last stored it. A PULL channel's comes from its queue.
   */
  async healthOf(orgId: string, id: string): Promise<ChannelHealth> {
    const channel = await this.channel(orgId, id);
    const now = new Date().toISOString();
    if (channel.type === 'PULL') {
      const { waiting, leased } = await this.pull.counts(id);
      return { channelId: id, circuit: 'CLOSED', inFlight: leased, waiting, throttledUntil: null, nextProbeAt: null, lastOutcomes: [], updatedAt: now };
    }
    return (
      this.dispatcher.healthOf(id) ??
      (await this.health.load(id)) ?? { channelId: id, circuit: 'CLOSED', inFlight: 0, waiting: 0, throttledUntil: null, nextProbeAt: null, lastOutcomes: [], updatedAt: now }
    );
  }

  /**
   * The organisation's channels whose circuit is in `circuits`, in one call: from memory for the
   * channels this instance owns, else as their owners last stored them. Deleted channels are left out.
   */
  async withCircuit(orgId: string, circuits: readonly CircuitState[]): Promise<ChannelHealth[]> {
    const stored = await this.health.withCircuit(orgId, circuits);
    return stored
      .filter((h) => this.channels.current(h.channelId)?.orgId === orgId)
      .map((h) => this.dispatcher.healthOf(h.channelId) ?? h)
      .filter((h) => circuits.includes(h.circuit));
  }

  /**
   * Sends one test delivery to the channel now, as it was last changed, with its auth, signature and
   * headers, around its breaker and limits (a test is a question, not a delivery: it records nothing).
   */
  async test(orgId: string, id: string): Promise<TestResult> {
    // The channel as last changed (read your writes): a test right after an update tests the update.
    const channel = await this.channels.latest(orgId, id);
    if (!channel) throw Problems.notFound('Channel', id);
    if (channel.type !== 'HTTP' || !channel.url) {
      throw new ProblemError(409, 'CHANNEL_NOT_PUSH', 'Conflict', `Channel ${id} is not pushed to (type ${channel.type}): there is nothing to test.`);
    }
    const delivery = testDelivery(channel, randomUUID().replace(/-/g, ''), new Date());
    const result = await this.gateway.send(channel, (secrets) => {
      const req = buildPartnerRequest(channel, delivery, 1, secrets, new Date());
      return { ...req, headers: { ...req.headers, 'waybill-test': 'true' } };
    });
    return {
      statusCode: result.exchange.kind === 'answered' ? result.exchange.statusCode : null,
      outcome: classify(result.exchange),
      durationMs: result.durationMs,
      ...(result.error ? { error: result.error } : {}),
    };
  }
}
