import { Client } from 'pg';
import type { EntityManager } from 'typeorm';
import type { Producer } from 'kafkajs';
import type { Outbox, OutgoingMessage } from '../transport.port';
import { Log } from '../logger';
import { delay, pollUntil, Signal } from '../wait';
import { toKafkaBatch } from './kafka-messages';
import type { Names } from './kafka-names';

/** Most rows one pass publishes: large passes keep the relay ahead of many writers. */
const BATCH = 2_000;
/**
 * Most bytes of values one pass publishes (a single larger row still goes alone): a pass's rows
 * to one partition become one record batch, which the broker refuses above the topic's
 * `max.message.bytes` (8 MiB), and the relay would retry it forever.
 */
const BATCH_BYTES = 4 * 1024 * 1024;
const LEADER_RETRY_MS = 2_000;

/**
 * The outbox of one service schema, and its relay to Kafka. Appends go into the schema's `outbox`
 * table inside the caller's transaction. One relay per schema is active at a time (an advisory lock
 * elects it, so several instances are safe); it publishes rows in id order and deletes exactly
 * the rows it published.
 */
export class KafkaOutbox implements Outbox {
  private client: Client | null = null;
  private leader = false;
  private readonly kick = new Signal();
  /** Passes started so far, and the number of the last one that found the outbox drained. */
  private passesStarted = 0;
  private drainedPass = 0;
  private readonly drained = new Signal();
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private connecting: Promise<Client> | null = null;

  constructor(
    private readonly url: string,
    private readonly schema: string,
    private readonly producer: Pick<Producer, 'sendBatch'>,
    private readonly names: Names,
    private readonly log: Log,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async append(em: EntityManager, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    // One JSON document for the batch (see the embedded log's append): `v json` keeps each
    // value's text exactly as serialised, and that text is what the relay publishes.
    const rows = messages.map((m) => ({ t: m.topic, k: m.key, v: m.value, h: m.headers ?? null }));
    // No NOTIFY in the writer's transaction: PostgreSQL serialises the commits of notifying
    // transactions through their WAL flush. `flush` kicks the relay after the commit instead.
    await em.query(
      `INSERT INTO ${this.schema}.outbox (topic, key, value, headers)
       SELECT t, k, v::text, h FROM json_to_recordset($1::json) AS x(t text, k text, v json, h jsonb)`,
      [JSON.stringify(rows)],
    );
  }

  async flush(timeoutMs = 5_000): Promise<void> {
    const since = Date.now();
    if (this.leader) {
      // Only a pass that starts after this call is sure to see what the caller committed.
      const after = this.passesStarted;
      this.kick.notify();
      const deadline = since + timeoutMs;
      while (this.drainedPass <= after && Date.now() < deadline) await this.drained.wait(deadline - Date.now());
      return;
    }
    // Another instance relays: kick it (outside any transaction), then wait until the rows present now are gone.
    const client = await this.connect();
    const [{ max }] = (
      await client.query(`SELECT max(id)::text AS max, pg_notify('waybill_outbox_${this.schema}', '') FROM ${this.schema}.outbox`)
    ).rows;
    if (max === null) return;
    await pollUntil(
      async () =>
        (await client.query(`SELECT NOT EXISTS (SELECT 1 FROM ${this.schema}.outbox WHERE id <= $1) AS done`, [max]))
          .rows[0].done,
      timeoutMs,
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.kick.notify();
    await this.loop;
    await this.connecting?.catch(() => undefined);
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }

  /**
   * The relay's one connection. The loop and `flush` may ask for it at the same time (a flush
   * while the relay is still starting): both must get the same one, or the other one is never
   * closed, and keeps the relay's advisory lock after `stop`, so no other instance can relay.
   */
  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(): Promise<Client> {
    const client = new Client({ connectionString: this.url, application_name: `waybill-relay-${this.schema}` });
    client.on('notification', () => this.kick.notify());
    client.on('error', (err) => {
      this.log.warn({ err, schema: this.schema }, 'outbox relay: connection lost');
      this.leader = false;
      this.client = null;
    });
    await client.connect();
    this.client = client;
    return client;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      try {
        const client = await this.connect();
        if (!this.leader) {
          const { rows } = await client.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
            `waybill.outbox.${this.schema}`,
          ]);
          if (!rows[0].ok) {
            await delay(LEADER_RETRY_MS, this.abort.signal);
            continue;
          }
          await client.query(`LISTEN waybill_outbox_${this.schema}`);
          this.leader = true;
        }
        const pass = ++this.passesStarted;
        const more = await this.drainOnce(client);
        failures = 0;
        if (!more) {
          this.drainedPass = pass;
          this.drained.notify();
          await this.kick.wait(5_000);
        }
      } catch (err) {
        if (this.abort.signal.aborted) break;
        failures++;
        this.log.warn({ err, schema: this.schema }, 'outbox relay: publish failed; will retry');
        await delay(Math.min(1_000, 50 * 2 ** failures), this.abort.signal); // a broker back is used within a second
      }
    }
  }

  /** Publishes the oldest rows (up to `BATCH` and `BATCH_BYTES`) and deletes them; true when more are waiting. */
  private async drainOnce(client: Client): Promise<boolean> {
    const { rows } = await client.query(
      `SELECT id::text AS id, topic, key, value, headers, n
         FROM (SELECT o.*, count(*) OVER () AS n, row_number() OVER w AS rn,
                      sum(coalesce(octet_length(o.value), 0)) OVER w AS upto
                 FROM (SELECT * FROM ${this.schema}.outbox ORDER BY id LIMIT ${BATCH}) o
               WINDOW w AS (ORDER BY o.id)) b
        WHERE upto <= ${BATCH_BYTES} OR rn = 1
        ORDER BY id`,
    );
    if (rows.length === 0) return false;
    await this.producer.sendBatch(
      toKafkaBatch(
        rows.map((r) => ({ topic: this.names.topic(r.topic), key: r.key, raw: r.value as string | null, headers: r.headers ?? undefined })),
      ),
    );
    await client.query(`DELETE FROM ${this.schema}.outbox WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
    const selected = Number(rows[0].n);
    return rows.length < selected || selected === BATCH;
  }
}
