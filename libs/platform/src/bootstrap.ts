import 'reflect-metadata';
import { INestApplication, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { TOPIC_SPECS } from '@waybill/contracts';
import { connectConsumers, EmbeddedTransport, KafkaTransport, MessageTransport, MessagingServer } from '@waybill/messaging';
import { ConfigError, loadConfig, WaybillConfig } from './config/config';
import { createLogger, NestPinoLogger } from './logging/logger';
import { PlatformModule } from './platform.module';
import { ProblemFilter } from './http/problem.filter';
import { problemBody, ProblemError } from './http/problem';
import { consoleFiles } from './http/console-files';
import { applyBodyLimit, clientErrorHandler, DEFAULT_BODY_LIMIT_BYTES, frameworkErrors, HttpGate, MAX_PATH_PARAM_LENGTH } from './http/http-gate';
import { postgresUnreachable, UnreachableError } from './startup-errors';

export interface ServiceSpec {
  /** Names the process in logs and in Kafka's client id. */
  name: string;
  modules: Type[];
  defaultPort: number;
  /** Lets the process run without Kafka on the embedded transport (only `standalone`). */
  embeddedTransport?: boolean;
  /** Runs before the transport opens: the standalone app starts its embedded Postgres here. */
  prepare?: (config: WaybillConfig, log: Logger) => Promise<{ config: WaybillConfig; release?: () => Promise<void> }>;
  /** The web console's built files, served at `/` beside the API (the standalone app). */
  consoleDir?: string;
  /** Runs once the app serves. */
  started?: (app: INestApplication, config: WaybillConfig, log: Logger) => Promise<void>;
}

export interface RunningService {
  app: NestFastifyApplication;
  url: string;
  config: WaybillConfig;
  stop(): Promise<void>;
}

/**
 * Starts one Waybill process: configuration, logs, transport, the service modules as one hybrid
 * Nest application — HTTP on Fastify, and their `@EventPattern` handlers served by the messaging
 * port's transport strategy — and a clean shutdown on SIGTERM/SIGINT (stop taking requests, stop
 * the consumers, hand back what is in flight, close the transport and the databases).
 */
export async function startService(spec: ServiceSpec, env: NodeJS.ProcessEnv = process.env): Promise<RunningService> {
  let config = loadConfig(env);
  const log = createLogger(spec.name, config.logLevel);
  const releases: Array<() => Promise<void>> = [];
  let transport: MessageTransport | null = null;
  let app: NestFastifyApplication | null = null;
  try {
    if (spec.prepare) {
      const prepared = await spec.prepare(config, log);
      config = prepared.config;
      if (prepared.release) releases.push(prepared.release);
    }
    if (!config.databaseUrl) throw new ConfigError('DATABASE_URL is required');
    if (!config.secretKey) {
      throw new ConfigError('WAYBILL_SECRET_KEY is required: 32 random bytes, base64 (openssl rand -base64 32)');
    }
    transport = await openTransport(spec, config, log);
    await transport.ensureTopics(TOPIC_SPECS);

    const consumers = new MessagingServer(transport, log.child({ component: 'consumers' }));

    @Module({ imports: [PlatformModule.forRoot({ config, logger: log, transport, consumers }), ...spec.modules] })
    class RootModule {}

    // Every error is problem+json, the HTTP layer's too; bodies are read only after the gate, up
    // to each route's own limit (`BodyLimit`).
    const adapter = new FastifyAdapter({
      bodyLimit: DEFAULT_BODY_LIMIT_BYTES,
      routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
      frameworkErrors,
      clientErrorHandler,
    });
    adapter.getInstance().addHook('onRoute', applyBodyLimit);
    // rawBody: a transaction's payload is delivered exactly as it was sent (its text, not a parsed value).
    app = await NestFactory.create<NestFastifyApplication>(RootModule, adapter, { logger: new NestPinoLogger(log), abortOnError: false, rawBody: true });
    app.useGlobalFilters(new ProblemFilter(log));
    adapter.getInstance().addHook('onRequest', app.get(HttpGate).onRequest);
    if (spec.consoleDir) serveConsole(app, spec.consoleDir);
    // Every module's lifecycle hooks first (replicas caught up, engines started), then the
    // consumer groups, then HTTP: a request never finds a group that has not started. `app.close()`
    // undoes it in the other order: HTTP, the consumer groups, then the modules' shutdown hooks.
    connectConsumers(app, consumers);
    await app.init();
    await app.startAllMicroservices();
    await app.listen(config.port ?? spec.defaultPort, config.host);
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    log.info({ url, transport: transport.kind }, `${spec.name} is serving`);
    if (spec.started) await spec.started(app, config, log);

    const openTransportRef = transport;
    const openApp = app;
    let stopping: Promise<void> | null = null;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        log.info('shutting down');
        await openApp.close();
        await openTransportRef.close();
        for (const release of releases.reverse()) await release();
        log.info('stopped');
      })());
    return { app, url, config, stop };
  } catch (err) {
    await app?.close().catch(() => undefined);
    await transport?.close().catch(() => undefined);
    for (const release of releases.reverse()) await release().catch(() => undefined);
    throw err;
  }
}

/**
 * The console at `/`: a catch-all route, which Fastify tries only after every API route, so the
 * console never shadows the API; an unknown path of the API's own is its usual problem+json 404.
 */
function serveConsole(app: NestFastifyApplication, dir: string): void {
  const files = consoleFiles(dir);
  app
    .getHttpAdapter()
    .getInstance()
    .get('/*', async (req, reply) => {
      reply.hijack();
      if (await files(req.raw, reply.raw)) return;
      reply.raw
        .writeHead(404, { 'content-type': 'application/problem+json' })
        .end(JSON.stringify(problemBody(new ProblemError(404, 'NOT_FOUND', 'Not found', 'No such resource.'))));
    });
}

async function openTransport(spec: ServiceSpec, config: WaybillConfig, log: Logger): Promise<MessageTransport> {
  const databaseUrl = config.databaseUrl as string;
  if (config.kafkaBrokers?.length) {
    const brokers = config.kafkaBrokers.join(',');
    return withDeadline(
      KafkaTransport.open({
      brokers: config.kafkaBrokers,
      clientId: `waybill-${spec.name}`,
      databaseUrl,
      partitions: config.kafkaPartitions,
      namespace: config.kafkaNamespace,
      sessionTimeoutMs: config.kafkaSessionTimeoutMs,
      log: log.child({ component: 'kafka' }),
      }),
      START_DEADLINE_MS,
    ).catch((err: Error) => {
      throw new UnreachableError(`Kafka is not reachable at ${brokers} (${err.message}). Check KAFKA_BROKERS.`);
    });
  }
  if (!spec.embeddedTransport) throw new ConfigError('KAFKA_BROKERS is required for this service');
  return EmbeddedTransport.open({ url: databaseUrl, partitions: config.kafkaPartitions, log: log.child({ component: 'log' }) }).catch(
    (err: Error) => {
      throw postgresUnreachable(databaseUrl, err);
    },
  );
}

/** How long a process tries to reach Kafka at start before it gives up with a clear message (ms). */
const START_DEADLINE_MS = 15_000;

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}

/**
 * The `main` of every app: starts, exits 0 after a clean shutdown on SIGTERM/SIGINT, and exits 1
 * with a clear message when it cannot start (Kafka or Postgres unreachable, bad configuration).
 */
export function runMain(spec: ServiceSpec): void {
  startService(spec).then(
    (running) => {
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        if (++signals > 1) process.exit(1);
        running.stop().then(
          () => process.exit(0),
          (err) => {
            process.stderr.write(`${spec.name}: shutdown failed after ${signal}: ${(err as Error).stack}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      if (process.env.WAYBILL_EXIT_WITH_PARENT === '1') {
        // Started by a supervisor (tools/distributed) that holds our stdin: when it dies, even by
        // SIGKILL, the pipe closes and we shut down instead of living on as an orphan.
        process.stdin.on('end', () => onSignal('SIGTERM')).resume();
      }
    },
    (err: Error) => {
      process.stderr.write(`${spec.name} could not start: ${describeStartupError(err)}\n`);
      process.exit(1);
    },
  );
}

function describeStartupError(err: Error): string {
  if (err instanceof ConfigError || err instanceof UnreachableError) return err.message;
  return err.stack ?? err.message ?? String(err);
}
