import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ChannelRegistryModule, RegistryService } from '@waybill/channel-registry';
import { RelationshipRoutingModule } from '@waybill/relationship-routing';
import { DispatcherModule } from '@waybill/dispatcher';
import { StatusProjectionModule } from '@waybill/status-projection';
import { startEmbeddedPostgres } from '@waybill/persistence';
import { SecretBox } from '@waybill/security';
import type { ServiceSpec, WaybillConfig } from '@waybill/platform';

/**
 * All four services in one process: the default (`npm start`). An embedded PostgreSQL unless
 * DATABASE_URL is set, the embedded transport unless KAFKA_BROKERS is set, and on the first run
 * a first organisation whose API key is printed once; the web console at `/`.
 */
export const standalone: ServiceSpec = {
  name: 'standalone',
  modules: [ChannelRegistryModule, RelationshipRoutingModule, DispatcherModule, StatusProjectionModule],
  defaultPort: 3000,
  embeddedTransport: true,
  // The web console's build (`npm install` makes it: tools/console/build.ts), at `/`.
  consoleDir: path.resolve(__dirname, '../../console/dist'),
  prepare: async (config, log) => {
    const dataDir = path.resolve(config.dataDir);
    // Others may pass through (not list): PostgreSQL's own user must reach its cluster below, when
    // Waybill runs as root. What is secret inside (the secret key) is 0600 on its own.
    await mkdir(dataDir, { recursive: true, mode: 0o711 });
    const secretKey = config.secretKey ?? (await loadOrCreateSecretKey(dataDir, log));
    if (config.databaseUrl) return { config: { ...config, secretKey } };
    const pg = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, 'postgres'),
      log: (msg, fields) => log.debug({ component: 'postgres', ...fields }, msg),
    });
    log.info({ dataDir }, 'embedded PostgreSQL is running');
    return { config: { ...config, secretKey, databaseUrl: pg.url }, release: () => pg.stop() };
  },
  started: async (app, config) => {
    const first = await app.get(RegistryService).ensureFirstOrganization();
    if (first) announceFirstKey(first, config);
  },
};

/** The key that seals channel credentials: generated on the first run, readable by its owner only. */
async function loadOrCreateSecretKey(dataDir: string, log: Logger): Promise<string> {
  const file = path.join(dataDir, 'secret.key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = SecretBox.generateKey();
  await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  log.info({ file }, 'generated the secret key that encrypts channel credentials');
  return key;
}

function announceFirstKey(first: { id: string; apiKey: string }, config: WaybillConfig): void {
  // Shown once, on the terminal of whoever ran the first start; never in a log line.
  const port = config.port ?? 3000;
  process.stdout.write(
    [
      '',
      'Waybill created your first organisation. Its API key, shown only this once:',
      '',
      `    ${first.apiKey}`,
      '',
      `Try it:  curl -H "Authorization: Bearer ${first.apiKey}" http://127.0.0.1:${port}/v1/channels`,
      '',
    ].join('\n') + '\n',
  );
}
