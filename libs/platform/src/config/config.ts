import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HOST: z.string().default('127.0.0.1'),
  DATABASE_URL: z.string().url().optional(),
  KAFKA_BROKERS: z.string().optional(),
  WAYBILL_ENV: z.enum(['development', 'production', 'test']).default('development'),
  WAYBILL_ADMIN_KEY: z.string().min(16).optional(),
  WAYBILL_DATA_DIR: z.string().default('.waybill'),
  WAYBILL_ALLOW_PRIVATE_TARGETS: bool.optional(),
  WAYBILL_SECRET_KEY: z.string().optional(),
  WAYBILL_KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(12),
  WAYBILL_INSTANCE_ID: z.string().optional(),
  WAYBILL_RATE_LIMIT: z.coerce.number().int().min(1).default(10_000),
  WAYBILL_KAFKA_NAMESPACE: z.string().regex(/^[a-zA-Z0-9_-]+$/).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Waybill's configuration, read from the environment once, at boot, and validated. */
export interface WaybillConfig {
  port: number | undefined;
  host: string;
  /** Unset: the standalone app runs an embedded PostgreSQL. */
  databaseUrl: string | undefined;
  /** Unset: the standalone app uses the embedded transport. */
  kafkaBrokers: string[] | undefined;
  env: 'development' | 'production' | 'test';
  /** The deployment's admin key; without it the organisation endpoints answer 404. */
  adminKey: string | undefined;
  dataDir: string;
  allowPrivateTargets: boolean;
  secretKey: string | undefined;
  kafkaPartitions: number;
  /** Prefix of Waybill's topics and groups on a shared cluster. */
  kafkaNamespace: string | undefined;
  instanceId: string | undefined;
  /** Requests per second per organisation on the public API, shared by every instance. */
  rateLimit: number;
  logLevel: string;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): WaybillConfig {
  const parsed = EnvSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    kafkaBrokers: e.KAFKA_BROKERS?.split(',').map((b) => b.trim()).filter(Boolean),
    env: e.WAYBILL_ENV,
    adminKey: e.WAYBILL_ADMIN_KEY,
    dataDir: e.WAYBILL_DATA_DIR,
    allowPrivateTargets: e.WAYBILL_ALLOW_PRIVATE_TARGETS ?? e.WAYBILL_ENV !== 'production',
    secretKey: e.WAYBILL_SECRET_KEY,
    kafkaPartitions: e.WAYBILL_KAFKA_PARTITIONS,
    kafkaNamespace: e.WAYBILL_KAFKA_NAMESPACE,
    instanceId: e.WAYBILL_INSTANCE_ID,
    rateLimit: e.WAYBILL_RATE_LIMIT,
    logLevel: e.LOG_LEVEL,
  };
}
