import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { ChannelState, DeliveryRequestedV1, Topics } from '@waybill/contracts';
import { classify, nextRetry, parseRetryAfter } from '@waybill/delivery';
import { delay, eventMessage, MessageTransport, OutgoingMessage, Signal, subscribeEvents, Subscription } from '@waybill/messaging';
import { ChannelReplica, LOGGER, TRANSPORT } from '@waybill/platform';
import { SecretBox } from '@waybill/security';
import { DISPATCHER_DB } from '../adapters/db/dispatcher.migrations';
import { PartnerClient } from '../adapters/partner/partner-client';
import { buildPartnerRequest, RequestSecrets } from '../domain/partner-request';

export const SCHEMA = 'dispatcher';
const GROUP = 'waybill.dispatcher';
/**
 * How long a claimed parked row stays hidden from other claimers (ms): longer than the longest
 * channel timeout, so only a dead claimer's rows come back.
 */
const LEASE_MS = 150_000;
const SCHEDULER_BATCH = 100;

interface Job {
  orgId: string;
  request: DeliveryRequestedV1;
  attempt: number;
  firstAttemptAt: Date;
  partition: number;
}

interface ParkedRow {
  delivery_id: string;
  org_id: string;
  partition: number;
  next_attempt: number;
  first_attempt_at: Date;
  request: DeliveryRequestedV1;
}

/**
 * Delivers `delivery.requested` to partners: one attempt now, then retries parked durably in the
 * dispatcher's schema until due. A message is acknowledged once its attempt's events are published
 * and any retry is parked.
 */
@Injectable()
export class DeliveryService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly client = new PartnerClient();
  private subscription: Subscription | null = null;
  private readonly parked = new Signal();
  private readonly abort = new AbortController();
  private scheduler: Promise<void> | null = null;

  constructor(
    @Inject(DISPATCHER_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly channels: ChannelReplica,
    private readonly secrets: SecretBox,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.subscription = await subscribeEvents(this.transport, this.log, {
      group: GROUP,
      topics: [Topics.deliveries],
      partitionsConcurrently: this.transport.partitions,
      handle: async (items) => {
        const jobs: Job[] = [];
        for (const item of items) {
          if (item.kind !== 'event' || item.event.type !== 'delivery.requested.v1') continue;
          jobs.push({
            orgId: item.event.orgId,
            request: item.event.data,
            attempt: 1,
            firstAttemptAt: new Date(),
            partition: item.message.partition,
          });
        }
        await this.runInChannelOrder(jobs);
      },
    });
    this.scheduler = this.runScheduler();
  }

  async onApplicationShutdown(): Promise<void> {
    this.abort.abort();
    this.parked.notify();
    await this.subscription?.stop();
    await this.scheduler;
    await this.client.close();
  }

  /** First attempts of one channel start in the order they were accepted; channels run side by side. */
  private async runInChannelOrder(jobs: Job[]): Promise<void> {
    const byChannel = new Map<string, Job[]>();
    for (const job of jobs) {
      const list = byChannel.get(job.request.channelId) ?? [];
      list.push(job);
      byChannel.set(job.request.channelId, list);
    }
    await Promise.all(
      [...byChannel.values()].map(async (list) => {
        const limit = this.channels.current(list[0].request.channelId)?.maxConcurrency ?? 1;
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < list.length) await this.attempt(list[next++]);
        };
        await Promise.all(Array.from({ length: Math.min(limit, list.length) }, worker));
      }),
    );
  }

  /** One attempt: send, publish what happened, park a retry. Resolves once all of that is durable. */
  private async attempt(job: Job): Promise<void> {
    const { request, orgId } = job;
    const channel = this.channels.current(request.channelId) ?? (await this.channels.channel(orgId, request.channelId));
    const now = new Date();
    if (!channel || channel.type !== 'HTTP' || !channel.url) {
      const reason = !channel ? 'the channel no longer exists' : 'the channel does not take pushed deliveries';
      await this.transport.publish([this.terminal(job, 'transaction.failed.v1', now, { reason })]);
      return;
    }
    const partnerRequest = buildPartnerRequest(channel, request, job.attempt, this.requestSecrets(channel), now);
    const result = await this.client.post(partnerRequest, channel.timeoutMs);
    const outcome = classify(result.exchange);
    const statusCode = result.exchange.kind === 'answered' ? result.exchange.statusCode : null;
    const at = new Date();
    const events: OutgoingMessage[] = [
      eventMessage('delivery.attempted.v1', {
        orgId,
        key: request.transactionId,
        data: {
          transactionId: request.transactionId,
          deliveryId: request.deliveryId,
          channelId: channel.id,
          attempt: job.attempt,
          at: now.toISOString(),
          statusCode,
          outcome,
          durationMs: result.durationMs,
          error: result.error,
          responseExcerpt: result.excerpt,
        },
      }, at),
    ];
    let park: { dueAt: Date } | null = null;
    switch (outcome) {
      case 'ACCEPTED':
        events.push(this.terminal(job, 'transaction.accepted.v1', at, { by: 'PARTNER' }));
        break;
      case 'DISPATCHED':
        events.push(this.terminal(job, 'transaction.dispatched.v1', at, {}));
        break;
      case 'REJECTED':
        events.push(this.terminal(job, 'transaction.rejected.v1', at, { statusCode }));
        break;
      case 'FAILED':
        events.push(this.terminal(job, 'transaction.failed.v1', at, { reason: `the partner answered ${statusCode}` }));
        break;
      case 'RETRYABLE': {
        const decision = nextRetry(channel.retryPolicy, {
          attempt: job.attempt,
          firstAttemptAt: job.firstAttemptAt,
          now: at,
          retryAfterMs: parseRetryAfter(result.retryAfter, at),
          random: Math.random(),
        });
        if (decision.retry) {
          park = { dueAt: decision.dueAt };
          events.push(
            eventMessage('delivery.retry-scheduled.v1', {
              orgId,
              key: request.transactionId,
              data: { transactionId: request.transactionId, deliveryId: request.deliveryId, attempt: job.attempt + 1, dueAt: decision.dueAt.toISOString() },
            }, at),
          );
        } else {
          events.push(this.terminal(job, 'transaction.failed.v1', at, { reason: `${decision.reason}; last: ${result.error ?? statusCode}` }));
          events.push(
            eventMessage('delivery.exhausted.v1', {
              orgId,
              key: channel.id,
              data: {
                channelId: channel.id,
                transactionId: request.transactionId,
                deliveryId: request.deliveryId,
                attempts: job.attempt,
                at: at.toISOString(),
                lastError: result.error ?? (statusCode !== null ? `HTTP ${statusCode}` : null),
              },
            }, at),
          );
        }
        break;
      }
    }
    await this.transport.publish(events);
    if (park) await this.park(job, park.dueAt);
    else await this.unpark(job);
  }

  private terminal<T extends 'transaction.accepted.v1' | 'transaction.dispatched.v1' | 'transaction.rejected.v1' | 'transaction.failed.v1'>(
    job: Job,
    type: T,
    at: Date,
    extra: Record<string, unknown>,
  ): OutgoingMessage {
    return eventMessage(
      type,
      {
        orgId: job.orgId,
        key: job.request.transactionId,
        data: { transactionId: job.request.transactionId, deliveryId: job.request.deliveryId, ...extra } as never,
      },
      at,
    );
  }

  private requestSecrets(channel: ChannelState): RequestSecrets {
    const open = (s: string) => this.secrets.decrypt(s);
    let authorization: string | null = null;
    switch (channel.auth.type) {
      case 'BASIC':
        authorization = `Basic ${Buffer.from(`${channel.auth.username}:${open(channel.auth.password)}`).toString('base64')}`;
        break;
      case 'BEARER':
        authorization = `Bearer ${open(channel.auth.token)}`;
        break;
      default:
        break;
    }
    const now = Date.now();
    const signingSecrets = channel.signing.secrets
      .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now)
      .map((s) => open(s.secret))
      .reverse();
    return { authorization, signingSecrets };
  }

  private async park(job: Job, dueAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO parked_deliveries (delivery_id, channel_id, partition, org_id, next_attempt, first_attempt_at, due_at, request)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (delivery_id) DO UPDATE SET next_attempt = EXCLUDED.next_attempt, due_at = EXCLUDED.due_at`,
      [job.request.deliveryId, job.request.channelId, job.partition, job.orgId, job.attempt + 1, job.firstAttemptAt, dueAt, job.request],
    );
    this.parked.notify();
  }

  private async unpark(job: Job): Promise<void> {
    if (job.attempt > 1) await this.db.query('DELETE FROM parked_deliveries WHERE delivery_id = $1', [job.request.deliveryId]);
  }

  /** Takes due parked deliveries (`FOR UPDATE SKIP LOCKED`, under a lease) and attempts them again. */
  private async runScheduler(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        // An UPDATE answers [rows, count] through TypeORM.
        const [rows]: [ParkedRow[], number] = await this.db.query(
          `UPDATE parked_deliveries SET due_at = now() + make_interval(secs => $2 / 1000.0)
            WHERE delivery_id IN (
              SELECT delivery_id FROM parked_deliveries WHERE due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING delivery_id, org_id, partition, next_attempt, first_attempt_at, request`,
          [SCHEDULER_BATCH, LEASE_MS],
        );
        if (rows.length > 0) {
          await this.runInChannelOrder(
            rows.map((r) => ({ orgId: r.org_id, request: r.request, attempt: r.next_attempt, firstAttemptAt: r.first_attempt_at, partition: r.partition })),
          );
          continue;
        }
        const [{ wait }]: { wait: number | null }[] = await this.db.query(
          `SELECT (extract(epoch FROM min(due_at) - now()) * 1000)::int AS wait FROM parked_deliveries`,
        );
        await this.parked.wait(Math.min(Math.max(wait ?? 5_000, 10), 5_000));
      } catch (err) {
        if (this.abort.signal.aborted) break;
        this.log.error({ err }, 'dispatcher scheduler failed; will retry');
        await delay(1_000, this.abort.signal);
      }
    }
  }
}
