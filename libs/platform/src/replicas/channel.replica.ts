import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { ChannelState, Topics } from '@waybill/contracts';
import { MessageTransport, ReplicaFeed } from '@waybill/messaging';
import { LOGGER, TRANSPORT } from '../tokens';

export interface OrgSettings {
  defaultInboundChannelId: string | null;
  alertChannelId: string | null;
}

/**
 * A service's own in-memory replica of `waybill.channels`: every channel's full state and each
 * organisation's settings. Routing and the dispatcher keep one each and never call the registry.
 * Provide it in the service module that needs it (not in the platform), so a service without
 * channels reads no channel topic.
 */
@Injectable()
export class ChannelReplica implements OnModuleInit, OnApplicationShutdown {
  private readonly channels = new Map<string, ChannelState>();
  private readonly settings = new Map<string, OrgSettings>();
  private feed: ReplicaFeed | null = null;

  constructor(
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    this.feed = await ReplicaFeed.start(this.transport, this.log, {
      name: 'channels',
      topics: [Topics.channels],
      apply: (item) => {
        if (item.kind === 'tombstone') {
          this.channels.delete(item.key);
          return;
        }
        const e = item.event;
        if (e.type === 'channel.upserted.v1') {
          const held = this.channels.get(e.data.id);
          if (!held || held.version <= e.data.version) this.channels.set(e.data.id, e.data);
        } else if (e.type === 'org.settings-changed.v1') {
          this.settings.set(e.data.orgId, e.data);
        }
      },
    });
  }

  /** The organisation's channel, catching up first when it is not known yet. */
  async channel(orgId: string, id: string): Promise<ChannelState | undefined> {
    const find = () => {
      const c = this.channels.get(id);
      return c && c.orgId === orgId ? c : undefined;
    };
    return this.feed ? this.feed.lookup(find) : find();
  }

  /** The organisation's channel as the topic has it now: caught up to its end first, whatever is held. */
  async latest(orgId: string, id: string): Promise<ChannelState | undefined> {
    await this.feed?.catchUp();
    const c = this.channels.get(id);
    return c && c.orgId === orgId ? c : undefined;
  }

  async orgSettings(orgId: string): Promise<OrgSettings> {
    await this.feed?.catchUp();
    return this.settings.get(orgId) ?? { defaultInboundChannelId: null, alertChannelId: null };
  }

  /** The channel as held now, without catching up (the dispatcher's hot path). */
  current(id: string): ChannelState | undefined {
    return this.channels.get(id);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.feed?.stop();
  }
}
