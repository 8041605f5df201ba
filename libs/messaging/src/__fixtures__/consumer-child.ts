/**
 * A consumer in its own Node process, so a test can kill it for real (SIGKILL) in the middle of a
 * batch and check that another consumer of the same group picks up everything it had not
 * acknowledged.
 *
 * Run from the repository root (for tsconfig.json's paths):
 *   node -r @swc-node/register libs/messaging/src/__fixtures__/consumer-child.ts '<options JSON>'
 * Protocol on stdout, one line each:
 *   READY                  subscribed
 *   HANDLED ["id", ...]    a batch the handler finished (it is acknowledged right after)
 *   BLOCKED ["id", ...]    the batch the handler is stuck in, for good (waiting to be killed)
 *   FAILED "<message>"     (JSON string) then exit code 1
 */
import { EmbeddedTransport } from '../embedded/embedded.transport';
import { KafkaTransport } from '../kafka/kafka.transport';
import type { MessageTransport } from '../transport.port';

export interface ConsumerChildOptions {
  kind: 'kafka' | 'embedded';
  databaseUrl: string;
  brokers?: string[];
  namespace?: string;
  partitions?: number;
  group: string;
  topic: string;
  /** Handle batches normally until this many messages were handled, then block in the next batch. */
  blockAfter: number;
}

async function open(o: ConsumerChildOptions): Promise<MessageTransport> {
  if (o.kind === 'embedded') return EmbeddedTransport.open({ url: o.databaseUrl, partitions: o.partitions });
  return KafkaTransport.open({
    brokers: o.brokers ?? [],
    clientId: 'consumer-child',
    databaseUrl: o.databaseUrl,
    namespace: o.namespace,
    partitions: o.partitions,
    sessionTimeoutMs: 6_000,
  });
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as ConsumerChildOptions;
  const transport = await open(options);
  let handled = 0;
  await transport.subscribe({
    group: options.group,
    topics: [options.topic],
    handle: async (messages) => {
      const ids = messages.map((m) => (JSON.parse(m.value ?? 'null') as { id: string }).id);
      if (handled >= options.blockAfter) {
        process.stdout.write(`BLOCKED ${JSON.stringify(ids)}\n`);
        await new Promise<never>(() => undefined); // stuck until SIGKILL
      }
      handled += messages.length;
      process.stdout.write(`HANDLED ${JSON.stringify(ids)}\n`);
    },
  });
  process.stdout.write('READY\n');
  // The test runner went away without killing us: do not outlive it.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

main().catch((error: unknown) => {
  process.stdout.write(`FAILED ${JSON.stringify(error instanceof Error ? error.message : String(error))}\n`);
  process.exit(1);
});
