import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { newClusterId, propertyValue, renderLoggingConfig, renderServerProperties, type BrokerPorts } from './config';
import { DEFAULT_KAFKA_VERSION, distributionProfile, ensureKafkaDistribution, type LoggingFlavor } from './distribution';
import { adoptBroker, releaseBroker } from './exit-hooks';
import { delay, errorMessage, fileSizeBytes, readFileIfExists, tailFileSince, writeFileAtomic } from './fs-util';
import { layoutOf, type BrokerLayout } from './layout';
import { assertPortFree, pickFreePorts } from './ports';
import { readCommandLine, terminateChild, terminatePid } from './processes';
import { runCommand } from './run-command';

/** Options of {@link startKafka}. */
export interface KafkaLocalOptions {
  /**
   * Directory owning this broker: partition data (`logs/`), generated config,
   * broker logs (`broker-logs/`) and `kafka.pid`. Created when missing; data
   * is kept and reused by later starts on the same directory.
   */
  dataDir: string;
  /** Client (PLAINTEXT) port on 127.0.0.1. Default: a free port. */
  port?: number;
  /** KRaft controller port on 127.0.0.1. Default: a free port. */
  controllerPort?: number;
  /** Kafka release from Maven Central. Default: {@link DEFAULT_KAFKA_VERSION}. */
  version?: string;
  /** Maximum JVM heap in MiB. Default: 512. */
  heapMb?: number;
  /** Receives lifecycle lines (fetch, format, ready); the broker's own logs go to files. */
  log?: (line: string) => void;
  /**
   * Run the broker in its own session so it outlives this Node process (the
   * CLI uses this). Default false: the broker is sent SIGTERM when this
   * process exits or receives SIGINT/SIGTERM/SIGHUP.
   */
  detached?: boolean;
  /** How long to wait for the broker to answer clients. Default: 60000. */
  readyTimeoutMs?: number;
}

/** A running broker started by {@link startKafka}. */
export interface KafkaLocal {
  /** Bootstrap servers for kafkajs, e.g. `['127.0.0.1:41234']`. */
  brokers: string[];
  /** Client (PLAINTEXT) port. */
  port: number;
  /** KRaft controller port. */
  controllerPort: number;
  /** Cluster id stored in the data dir (stable across restarts). */
  clusterId: string;
  /** Pid of the broker JVM. */
  pid: number;
  /** Absolute data directory. */
  dataDir: string;
  /** SIGTERM, wait up to 20 s for a clean shutdown, then SIGKILL; removes the pid file. Idempotent. */
  stop(): Promise<void>;
}

/** What {@link findKafkaAt} knows about a broker recorded in a data dir. */
export interface RunningKafka {
  pid: number;
  port: number;
  brokers: string[];
  dataDir: string;
}

const DEFAULT_HEAP_MB = 512;
const DEFAULT_READY_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 200;
const STOP_GRACE_MS = 20_000;
/** A leftover broker from a crashed run gets less patience than one we stop deliberately. */
const LEFTOVER_GRACE_MS = 15_000;
const FORMAT_TIMEOUT_MS = 120_000;
const LOG_TAIL_LINES = 30;
const JAVA_HINT = 'Kafka needs Java 17+ on PATH or in JAVA_HOME';

/** The `java` executable plus the flags shared by the storage tool and the broker. */
interface JavaCommand {
  bin: string;
  args: string[];
}

function javaCommand(libsDir: string, layout: BrokerLayout, logging: LoggingFlavor, heapMb: number): JavaCommand {
  const javaHome = process.env['JAVA_HOME'];
  return { bin: javaHome ? join(javaHome, 'bin', 'java') : 'java', args: jvmArgs(libsDir, layout, logging, heapMb) };
}

function jvmArgs(libsDir: string, layout: BrokerLayout, logging: LoggingFlavor, heapMb: number): string[] {
  const loggingFlag =
    logging === 'log4j2'
      ? `-Dlog4j2.configurationFile=${layout.loggingConfig}`
      : `-Dlog4j.configuration=file:${layout.loggingConfig}`;
  return [
    `-Xms${Math.min(256, heapMb)}m`,
    `-Xmx${heapMb}m`,
    // One GC thread and no concurrent phases: on 2 cores G1's helpers compete with the tests.
    '-XX:+UseSerialGC',
    // C1 only: the JIT burns far less CPU during startup; a test broker never runs long enough to pay off C2.
    '-XX:TieredStopAtLevel=1',
    // No hsperfdata mmap file in /tmp for every test broker.
    '-XX:-UsePerfData',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    '-Djava.net.preferIPv4Stack=true',
    `-Dkafka.logs.dir=${layout.appLogDir}`,
    loggingFlag,
    '-cp',
    join(libsDir, '*'), // expanded by the JVM itself, not by a shell
  ];
}

async function readPid(pidFile: string): Promise<number | undefined> {
  const text = await readFileIfExists(pidFile);
  const pid = text === undefined ? Number.NaN : Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Guards against pid reuse: only a Kafka JVM running this data dir's config counts. */
async function isBrokerOf(pid: number, layout: BrokerLayout): Promise<boolean> {
  const args = await readCommandLine(pid);
  return args !== undefined && args.includes('kafka.Kafka') && args.includes(layout.serverProperties);
}

async function removePidFileIfOwned(pidFile: string, pid: number): Promise<void> {
  // Another start on the same dir may have replaced it meanwhile; leave theirs alone.
  if ((await readPid(pidFile)) !== pid) return;
  await rm(pidFile, { force: true });
}

/**
 * Stops the broker recorded in `<dataDir>/kafka.pid`, if that process is still
 * a Kafka broker for this data dir (SIGTERM, then SIGKILL after 15 s), and
 * removes the pid file. Used by the CLI and to recover after a crash.
 *
 * @returns true when a running broker was stopped, false when none was running.
 */
export async function stopKafkaAt(dataDir: string): Promise<boolean> {
  const layout = layoutOf(dataDir);
  const pid = await readPid(layout.pidFile);
  if (pid === undefined) return false;
  const running = await isBrokerOf(pid, layout);
  if (running) await terminatePid(pid, LEFTOVER_GRACE_MS);
  await removePidFileIfOwned(layout.pidFile, pid);
  return running;
}

/** The broker recorded in `dataDir`, when it is still running. */
export async function findKafkaAt(dataDir: string): Promise<RunningKafka | undefined> {
  const layout = layoutOf(dataDir);
  const pid = await readPid(layout.pidFile);
  if (pid === undefined || !(await isBrokerOf(pid, layout))) return undefined;
  const properties = (await readFileIfExists(layout.serverProperties)) ?? '';
  const advertised = propertyValue(properties, 'advertised.listeners') ?? '';
  const port = Number.parseInt(/:(\d+)$/.exec(advertised)?.[1] ?? '', 10);
  if (!Number.isInteger(port)) return undefined;
  return { pid, port, brokers: [`127.0.0.1:${port}`], dataDir: layout.dataDir };
}

async function resolvePorts(options: KafkaLocalOptions): Promise<BrokerPorts> {
  const missing = [options.port, options.controllerPort].filter((port) => port === undefined).length;
  const free = await pickFreePorts(missing);
  const port = options.port ?? free.shift();
  const controllerPort = options.controllerPort ?? free.shift();
  if (port === undefined || controllerPort === undefined) throw new Error('Could not pick free ports');
  if (port === controllerPort) throw new Error(`Kafka port and controller port must differ (both ${port})`);
  if (options.port !== undefined) await assertPortFree(port, 'client');
  if (options.controllerPort !== undefined) await assertPortFree(controllerPort, 'controller');
  return { port, controllerPort };
}

/** Formats storage once; later starts reuse the data and the cluster id in meta.properties. */
async function ensureFormatted(java: JavaCommand, layout: BrokerLayout, log: (line: string) => void): Promise<string> {
  const meta = await readFileIfExists(layout.metaProperties);
  if (meta !== undefined) {
    const clusterId = propertyValue(meta, 'cluster.id');
    if (!clusterId) throw new Error(`${layout.metaProperties} has no cluster.id; delete ${layout.dataDir} to start afresh`);
    return clusterId;
  }
  const clusterId = newClusterId();
  // Static quorum (controller.quorum.voters), so no --standalone.
  const args = [...java.args, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', layout.serverProperties];
  const { output } = await runCommand(java.bin, args, {
    what: 'Formatting Kafka storage',
    timeoutMs: FORMAT_TIMEOUT_MS,
    notFoundHint: JAVA_HINT,
  });
  log(output.trim() || `Formatted ${layout.kafkaDataDir} with cluster id ${clusterId}`);
  return clusterId;
}

async function spawnBroker(java: JavaCommand, layout: BrokerLayout, detached: boolean): Promise<ChildProcess> {
  // Marks where this run begins, for whoever reads the console log later.
  await appendFile(layout.consoleLog, `=== kafka-local start ${new Date().toISOString()} ===\n`);
  const consoleFile = await open(layout.consoleLog, 'a');
  try {
    const child = spawn(java.bin, [...java.args, 'kafka.Kafka', layout.serverProperties], {
      detached,
      stdio: ['ignore', consoleFile.fd, consoleFile.fd],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => {
        reject(new Error(`Could not start '${java.bin}' (${JAVA_HINT}): ${error.message}`));
      });
    });
    // Later errors (e.g. a failed kill) must not crash the host as unhandled 'error' events.
    child.on('error', () => undefined);
    // Node must be free to exit while the broker runs: exit hooks or the pid file take care of it.
    child.unref();
    return child;
  } finally {
    await consoleFile.close(); // the child has its own copy of the descriptor
  }
}

/** One readiness probe: the cluster id the broker reports once it serves metadata with itself in it. */
async function probeClusterId(brokers: string[]): Promise<string | undefined> {
  const kafka = new Kafka({
    clientId: 'kafka-local-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 ? cluster.clusterId : undefined;
  } catch {
    return undefined;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function exitDescription(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    const describe = (): string =>
      child.signalCode ? `was killed by ${child.signalCode}` : `exited with code ${child.exitCode}`;
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve(describe());
      return;
    }
    child.once('exit', () => {
      resolve(describe());
    });
  });
}

async function waitUntilAnswering(
  child: ChildProcess,
  brokers: string[],
  clusterId: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: string | undefined;
  const exited = exitDescription(child).then((description) => {
    exit = description;
  });
  for (;;) {
    if (exit !== undefined) throw new Error(`Kafka broker ${exit} before answering on ${brokers.join(',')}`);
    const answeredId = await probeClusterId(brokers);
    if (answeredId === clusterId) return;
    if (answeredId !== undefined) {
      throw new Error(`${brokers.join(',')} is served by another Kafka cluster (${answeredId}, expected ${clusterId})`);
    }
    if (Date.now() >= deadline) {
      throw new Error(`Kafka broker did not answer on ${brokers.join(',')} within ${timeoutMs} ms`);
    }
    await Promise.race([delay(READY_POLL_MS), exited]);
  }
}

/** Log sizes before a start, so error messages show only what this start wrote. */
interface LogMarks {
  serverLogBytes: number;
  consoleLogBytes: number;
}

async function markLogs(layout: BrokerLayout): Promise<LogMarks> {
  return { serverLogBytes: await fileSizeBytes(layout.serverLog), consoleLogBytes: await fileSizeBytes(layout.consoleLog) };
}

async function withLogTails(error: unknown, layout: BrokerLayout, marks: LogMarks): Promise<Error> {
  const message = errorMessage(error);
  const serverLog = await tailFileSince(layout.serverLog, marks.serverLogBytes, LOG_TAIL_LINES);
  const consoleLog = await tailFileSince(layout.consoleLog, marks.consoleLogBytes, LOG_TAIL_LINES);
  return new Error(
    `${message}\n--- ${layout.serverLog} (last lines) ---\n${serverLog || '(empty)'}\n` +
      `--- ${layout.consoleLog} (last lines) ---\n${consoleLog || '(empty)'}`,
  );
}

async function stopChild(child: ChildProcess, pid: number, layout: BrokerLayout, graceMs: number): Promise<void> {
  await terminateChild(child, graceMs);
  releaseBroker(pid);
  await removePidFileIfOwned(layout.pidFile, pid);
}

/**
 * Starts a real single-node Kafka broker (KRaft, broker and controller in one
 * JVM) on 127.0.0.1 and resolves once it answers kafkajs admin requests.
 *
 * A broker left running in the same data dir by a crashed process is stopped
 * first. Storage is formatted only on first use, so topics and offsets survive
 * restarts on the same `dataDir`.
 *
 * @throws with the tail of the broker's logs when it exits or does not answer in time.
 */
export async function startKafka(options: KafkaLocalOptions): Promise<KafkaLocal> {
  const startedAt = Date.now();
  const log = options.log ?? (() => undefined);
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const { logging } = distributionProfile(version);
  const layout = layoutOf(options.dataDir);
  await mkdir(layout.appLogDir, { recursive: true });

  if (await stopKafkaAt(layout.dataDir)) log(`Stopped a leftover Kafka broker recorded in ${layout.pidFile}`);
  const libsDir = await ensureKafkaDistribution(version, { log });
  const ports = await resolvePorts(options);
  await writeFileAtomic(layout.serverProperties, renderServerProperties(layout, ports));
  await writeFileAtomic(layout.loggingConfig, renderLoggingConfig(logging));
  const java = javaCommand(libsDir, layout, logging, options.heapMb ?? DEFAULT_HEAP_MB);
  const clusterId = await ensureFormatted(java, layout, log);

  const marks = await markLogs(layout);
  const child = await spawnBroker(java, layout, options.detached ?? false);
  const pid = child.pid;
  if (pid === undefined) throw new Error('Kafka broker started without a pid');
  if (!options.detached) adoptBroker(pid);
  child.once('exit', () => {
    releaseBroker(pid);
  });
  await writeFileAtomic(layout.pidFile, `${pid}\n`);

  const brokers = [`127.0.0.1:${ports.port}`];
  try {
    await waitUntilAnswering(child, brokers, clusterId, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  } catch (error) {
    await stopChild(child, pid, layout, 5_000).catch(() => undefined);
    throw await withLogTails(error, layout, marks);
  }
  log(`Kafka ${version} (pid ${pid}) answering on ${brokers.join(',')} after ${Date.now() - startedAt} ms`);

  let stopping: Promise<void> | undefined;
  return {
    brokers,
    port: ports.port,
    controllerPort: ports.controllerPort,
    clusterId,
    pid,
    dataDir: layout.dataDir,
    stop: () => (stopping ??= stopChild(child, pid, layout, STOP_GRACE_MS)),
  };
}
