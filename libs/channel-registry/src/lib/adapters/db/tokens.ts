// Imported from here by the consumer that has not moved yet (issue 13 §1); its home is the port.
export { REGISTRY_DB } from '../../application/registry.database';
