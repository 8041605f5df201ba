/**
 * Real single-node Apache Kafka (KRaft) for tests and local development,
 * without a container engine: jars come from Maven Central via `mvn` and are
 * cached under `${XDG_CACHE_HOME:-~/.cache}/waybill/kafka/<version>/`.
 * Needs Java 17+ and Maven on PATH; Linux only (uses /proc).
 */
export {
  DEFAULT_KAFKA_VERSION,
  ensureKafkaDistribution,
  kafkaCacheDir,
  type EnsureDistributionOptions,
} from './distribution';
export {
  findKafkaAt,
  startKafka,
  stopKafkaAt,
  type KafkaLocal,
  type KafkaLocalOptions,
  type RunningKafka,
} from './broker';
