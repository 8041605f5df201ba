import { join, resolve } from 'node:path';

/** Where everything of one broker lives inside its data directory. */
export interface BrokerLayout {
  dataDir: string;
  /** Kafka's `log.dirs`: topic partitions and the KRaft metadata log. */
  kafkaDataDir: string;
  /** Written by `StorageTool format`; its presence means "already formatted". */
  metaProperties: string;
  serverProperties: string;
  loggingConfig: string;
  /** Broker application logs (`kafka.logs.dir`), kept apart from partition data. */
  appLogDir: string;
  serverLog: string;
  /** JVM stdout/stderr: catches what happens before logging is up (bad flags, missing classes). */
  consoleLog: string;
  pidFile: string;
}

export function layoutOf(dataDir: string): BrokerLayout {
  const root = resolve(dataDir);
  const kafkaDataDir = join(root, 'logs');
  const appLogDir = join(root, 'broker-logs');
  return {
    dataDir: root,
    kafkaDataDir,
    metaProperties: join(kafkaDataDir, 'meta.properties'),
    serverProperties: join(root, 'server.properties'),
    loggingConfig: join(root, 'logging.properties'),
    appLogDir,
    serverLog: join(appLogDir, 'server.log'),
    consoleLog: join(appLogDir, 'console.log'),
    pidFile: join(root, 'kafka.pid'),
  };
}
