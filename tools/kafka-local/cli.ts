/**
 * Local Kafka for development: `node -r @swc-node/register tools/kafka-local/cli.ts start|stop|status`.
 *
 * The broker keeps its data in `.waybill/kafka` under the current directory
 * (the repo root) and listens on 127.0.0.1:9092 (controller 9093), or on
 * KAFKA_PORT (controller KAFKA_CONTROLLER_PORT, else a free port) when set.
 * `start` prints `KAFKA_BROKERS=...` on stdout; progress goes to stderr.
 * `status` exits 0 when the broker runs and 3 when it does not (LSB style).
 */
import { resolve } from 'node:path';
import { errorMessage } from './src/fs-util';
import { findKafkaAt, startKafka, stopKafkaAt, type RunningKafka } from './src/index';

const DATA_DIR = resolve(process.cwd(), '.waybill', 'kafka');
const DEFAULT_PORT = 9092;
const DEFAULT_CONTROLLER_PORT = 9093;
const EXIT_NOT_RUNNING = 3;
const EXIT_USAGE = 2;

function portFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`${name} must be a TCP port, got '${raw}'`);
  return port;
}

function printBrokers(kafka: Pick<RunningKafka, 'brokers'>): void {
  process.stdout.write(`KAFKA_BROKERS=${kafka.brokers.join(',')}\n`);
}

async function start(): Promise<number> {
  const requestedPort = portFromEnv('KAFKA_PORT');
  const port = requestedPort ?? DEFAULT_PORT;
  // A custom client port usually means 9093 is not ours to take either.
  const controllerPort =
    portFromEnv('KAFKA_CONTROLLER_PORT') ?? (requestedPort === undefined ? DEFAULT_CONTROLLER_PORT : undefined);

  const running = await findKafkaAt(DATA_DIR);
  if (running) {
    if (running.port !== port) {
      console.error(`Kafka is already running from ${DATA_DIR} on port ${running.port}, not ${port}; run 'stop' first.`);
      return 1;
    }
    console.error(`Kafka is already running (pid ${running.pid}, data in ${DATA_DIR}).`);
    printBrokers(running);
    return 0;
  }
  const kafka = await startKafka({ dataDir: DATA_DIR, port, controllerPort, detached: true, log: (line) => {
      console.error(line);
    },
  });
  console.error(`Kafka started (pid ${kafka.pid}, data in ${DATA_DIR}); stop it with 'cli.ts stop'.`);
  printBrokers(kafka);
  return 0;
}

async function stop(): Promise<number> {
  const stopped = await stopKafkaAt(DATA_DIR);
  console.error(stopped ? `Kafka stopped (data kept in ${DATA_DIR}).` : `Kafka is not running from ${DATA_DIR}.`);
  return 0;
}

async function status(): Promise<number> {
  const running = await findKafkaAt(DATA_DIR);
  if (!running) {
    console.error(`Kafka is not running from ${DATA_DIR}.`);
    return EXIT_NOT_RUNNING;
  }
  console.error(`Kafka is running (pid ${running.pid}, data in ${DATA_DIR}).`);
  printBrokers(running);
  return 0;
}

const COMMANDS: Record<string, () => Promise<number>> = { start, stop, status };

async function main(argv: string[]): Promise<number> {
  const command = argv[0] === undefined ? undefined : COMMANDS[argv[0]];
  if (!command || argv.length > 1) {
    console.error('Usage: node -r @swc-node/register tools/kafka-local/cli.ts start|stop|status');
    return EXIT_USAGE;
  }
  return command();
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`kafka-local: ${errorMessage(error)}`);
    process.exit(1);
  },
);
