import { isIP } from 'node:net';
import { z } from 'zod';
import { parseCidrList, PrivateTargets } from '@waybill/security';

const BOOL = new Set(['true', 'false', '1', '0', 'yes', 'no']);

/** A comma-separated list of CIDR ranges, normalised; an entry that is not one is named. */
const cidrList = z.string().transform((text, ctx) => {
  try {
    return parseCidrList(text.split(',').map((s) => s.trim()).filter(Boolean));
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** `true`/`false` (and their spellings), or the CIDR ranges of the private targets allowed. */
const privateTargets = z.string().transform((text, ctx): PrivateTargets => {
  if (BOOL.has(text)) return text === 'true' || text === '1' || text === 'yes';
  const parsed = cidrList.safeParse(text);
  if (parsed.success) return parsed.data;
  ctx.addIssue({ code: 'custom', message: `true, false, or CIDR ranges: ${parsed.error.issues[0]?.message}` });
  return z.NEVER;
});

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HOST: z.string().default('127.0.0.1'),
  DATABASE_URL: z.string().url().optional(),
  KAFKA_BROKERS: z.string().optional(),
  WAYBILL_ENV: z.enum(['development', 'production', 'test']).default('development'),
  WAYBILL_ADMIN_KEY: z.string().min(16).optional(),
  WAYBILL_DATA_DIR: z.string().default('.waybill'),
  WAYBILL_ALLOW_PRIVATE_TARGETS: privateTargets.optional(),
  WAYBILL_EGRESS_PROXY: z
    .url({ protocol: /^http$/, error: 'an http:// URL of a CONNECT proxy (http://[user:password@]host:port)' })
    .optional(),
  WAYBILL_EGRESS_SOURCE_ADDRESS: z.string().refine((a) => isIP(a) !== 0, 'an IP address of this host').optional(),
  WAYBILL_EGRESS_RANGES: cidrList.optional(),
  WAYBILL_SECRET_KEY: z.string().optional(),
  WAYBILL_KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(12),
  /** How long a consumer group waits for a silent member before it hands its partitions to the others (ms). */
  WAYBILL_KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(3_000).max(300_000).default(10_000),
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
  /** Non-public destinations allowed: none, all, or those in these CIDR ranges. */
  allowPrivateTargets: PrivateTargets;
  /** Where partner requests leave from (`WAYBILL_EGRESS_*`). */
  egress: {
    /** An HTTP CONNECT proxy every partner request goes through. */
    proxy: string | undefined;
    /** The local address outgoing partner sockets are bound to. */
    sourceAddress: string | undefined;
    /** The source ranges partners should allowlist, published at `GET /v1/egress`. */
    ranges: string[];
  };
  secretKey: string | undefined;
  kafkaPartitions: number;
  /** Prefix of Waybill's topics and groups on a shared cluster. */
  kafkaNamespace: string | undefined;
  kafkaSessionTimeoutMs: number;
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
    egress: { proxy: e.WAYBILL_EGRESS_PROXY, sourceAddress: e.WAYBILL_EGRESS_SOURCE_ADDRESS, ranges: e.WAYBILL_EGRESS_RANGES ?? [] },
    secretKey: e.WAYBILL_SECRET_KEY,
    kafkaPartitions: e.WAYBILL_KAFKA_PARTITIONS,
    kafkaNamespace: e.WAYBILL_KAFKA_NAMESPACE,
    kafkaSessionTimeoutMs: e.WAYBILL_KAFKA_SESSION_TIMEOUT_MS,
    instanceId: e.WAYBILL_INSTANCE_ID,
    rateLimit: e.WAYBILL_RATE_LIMIT,
    logLevel: e.LOG_LEVEL,
  };
}
