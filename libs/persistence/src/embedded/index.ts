export {
  findFreePort,
  startEmbeddedPostgres,
  type EmbeddedPostgresHandle,
  type EmbeddedPostgresOptions,
} from './embedded-postgres';
export { CLUSTER_SUBDIR, POINTER_FILE, RELOCATION_ROOT, removeDataDir } from './cluster-location';
export { findPostmasters } from './proc';
export { APP_ROLE, CREDENTIALS_FILE, LEGACY_LOGIN, SUPERUSER } from './credentials';
export { HBA_CONF } from './initdb';
