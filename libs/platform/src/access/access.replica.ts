import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { Topics } from '@waybill/contracts';
import { MessageTransport, ReplicaFeed } from '@waybill/messaging';
import { LOGGER, TRANSPORT } from '../tokens';
import { hashApiKey } from './api-key';

export interface Principal {
  orgId: string;
  apiKeyId: string;
}

/**
 * Every service authenticates from its own replica of `waybill.access`: no call to the registry.
 * A key issued a moment ago is found by catching up; a revoked key stops working once the
 * revocation is read (well within a second).
 */
@Injectable()
export class AccessReplica implements OnModuleInit, OnApplicationShutdown {
  private readonly byHash = new Map<string, Principal>();
  private readonly hashById = new Map<string, string>();
  private feed: ReplicaFeed | null = null;

  constructor(
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    this.feed ??= await ReplicaFeed.start(this.transport, this.log, {
      name: 'access',
      topics: [Topics.access],
      apply: (item) => {
        if (item.kind === 'tombstone') return this.forget(item.key);
        const e = item.event;
        if (e.type === 'api-key.issued.v1') {
          this.byHash.set(e.data.keyHash, { orgId: e.data.orgId, apiKeyId: e.data.apiKeyId });
          this.hashById.set(e.data.apiKeyId, e.data.keyHash);
        } else if (e.type === 'api-key.revoked.v1') {
          this.forget(e.data.apiKeyId);
        }
      },
    });
  }

  async authenticate(apiKey: string): Promise<Principal | undefined> {
    const hash = hashApiKey(apiKey);
    if (!this.feed) throw new Error('access replica not started');
    return this.feed.lookup(() => this.byHash.get(hash));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.feed?.stop();
    this.feed = null;
  }

  private forget(apiKeyId: string): void {
    const hash = this.hashById.get(apiKeyId);
    if (hash) this.byHash.delete(hash);
    this.hashById.delete(apiKeyId);
  }
}
