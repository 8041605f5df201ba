import fc from 'fast-check';
import { serviceFor, ServiceName } from './edge-routes';

const ID = 'ch_0190f5a3c9e47c1e8b1a2b3c4d5e6f70';
const TX = 'tx_0190f5a3c9e47c1e8b1a2b3c4d5e6f70';

/** Every public call of API.md, and the service that owns it (ARCHITECTURE.md, "Services"). */
const ROUTES: [string, string, ServiceName][] = [
  // Organisations and keys: channel-registry
  ['POST', '/v1/organizations', 'channel-registry'],
  ['GET', '/v1/api-keys', 'channel-registry'],
  ['POST', '/v1/api-keys', 'channel-registry'],
  ['DELETE', '/v1/api-keys/key_1', 'channel-registry'],
  ['GET', '/v1/organization', 'channel-registry'],
  // Channels: channel-registry, but test, health and messages
  ['POST', '/v1/channels', 'channel-registry'],
  ['GET', '/v1/channels', 'channel-registry'],
  ['GET', '/v1/channels?limit=10&cursor=abc', 'channel-registry'],
  ['GET', `/v1/channels/${ID}`, 'channel-registry'],
  ['PATCH', `/v1/channels/${ID}`, 'channel-registry'],
  ['DELETE', `/v1/channels/${ID}`, 'channel-registry'],
  ['GET', `/v1/channels/${ID}/signing-secret`, 'channel-registry'],
  ['POST', `/v1/channels/${ID}/signing-secret/rotate`, 'channel-registry'],
  ['POST', `/v1/channels/${ID}/test`, 'dispatcher'],
  ['GET', `/v1/channels/${ID}/health`, 'dispatcher'],
  ['GET', `/v1/channels/${ID}/messages`, 'dispatcher'],
  ['GET', `/v1/channels/${ID}/messages?limit=100&waitMs=20000`, 'dispatcher'],
  ['POST', `/v1/channels/${ID}/messages/ack`, 'dispatcher'],
  ['POST', `/v1/channels/${ID}/messages/nack`, 'dispatcher'],
  ['GET', `/v1/channels/${ID}/messages/pending?limit=20`, 'dispatcher'],
  ['GET', '/v1/channel-health', 'dispatcher'],
  ['GET', '/v1/channel-health?circuit=OPEN&circuit=HALF_OPEN', 'dispatcher'],
  // Egress: dispatcher
  ['GET', '/v1/egress', 'dispatcher'],
  // Settings: channel-registry
  ['GET', '/v1/settings', 'channel-registry'],
  ['PUT', '/v1/settings/default-inbound-channel', 'channel-registry'],
  ['PUT', '/v1/settings/alert-channel', 'channel-registry'],
  // Relationships: relationship-routing
  ['POST', '/v1/relationships', 'relationship-routing'],
  ['GET', '/v1/relationships', 'relationship-routing'],
  ['GET', `/v1/relationships?channelId=${ID}`, 'relationship-routing'],
  ['GET', '/v1/relationships/rel_1', 'relationship-routing'],
  ['PATCH', '/v1/relationships/rel_1', 'relationship-routing'],
  ['DELETE', '/v1/relationships/rel_1', 'relationship-routing'],
  // Sending transactions: relationship-routing
  ['POST', '/v1/transactions', 'relationship-routing'],
  ['POST', '/v1/transactions/', 'relationship-routing'],
  ['POST', '/v1/transactions/batch', 'relationship-routing'],
  // Reading transactions, accept, redeliver: status-projection
  ['GET', '/v1/transactions', 'status-projection'],
  ['GET', '/v1/transactions?status=FAILED&status=REJECTED&channelId=ch_1', 'status-projection'],
  ['GET', `/v1/transactions/${TX}`, 'status-projection'],
  ['GET', `/v1/transactions/${TX}/events`, 'status-projection'],
  ['POST', `/v1/transactions/${TX}/accept`, 'status-projection'],
  ['POST', `/v1/transactions/${TX}/redeliver`, 'status-projection'],
  ['POST', '/v1/transactions/redeliver', 'status-projection'],
  // What was sent: routing keeps the payloads
  ['GET', `/v1/transactions/${TX}/request`, 'relationship-routing'],
  ['GET', `/v1/transactions/${TX}/request?deliveryId=dl_1&attempt=2`, 'relationship-routing'],
  // Dashboard figures: status-projection
  ['GET', '/v1/stats/deliveries?bucket=1m', 'status-projection'],
  ['GET', '/v1/stats/transactions', 'status-projection'],
  // Alerts: status-projection
  ['GET', '/v1/alerts', 'status-projection'],
  ['GET', `/v1/alerts?channelId=${ID}&type=channel.circuit-opened`, 'status-projection'],
  // The published contract
  ['GET', '/openapi.json', 'channel-registry'],
  ['GET', '/docs', 'channel-registry'],
];

describe('serviceFor: which service answers a public path behind the edge', () => {
  it.each(ROUTES)('%s %s → %s', (method, path, service) => {
    expect(serviceFor(method, path)).toBe(service);
  });

  it.each([
    ['GET', '/'],
    ['GET', '/v2/channels'],
    ['GET', '/v1'],
    ['GET', '/v1/'],
    ['GET', '/v1/unknown'],
    ['GET', '/v1/channelsfoo'],
    ['GET', '/v1/channel-healthfoo'],
    ['GET', '/v1/statsfoo'],
    ['GET', '/v1/transactionsfoo'],
    ['POST', '/v1/organizationsX'],
    ['GET', '/openapi.yaml'],
  ])('%s %s belongs to no service', (method, path) => {
    expect(serviceFor(method, path)).toBeNull();
  });

  it('a channel id that happens to be "test" is still a channel of the registry', () => {
    expect(serviceFor('GET', '/v1/channels/test')).toBe('channel-registry');
    expect(serviceFor('GET', '/v1/channels/health')).toBe('channel-registry');
  });

  it('a transaction id that happens to be "batch" or "redeliver" is read from the status projection', () => {
    expect(serviceFor('GET', '/v1/transactions/batch')).toBe('status-projection');
    expect(serviceFor('GET', '/v1/transactions/redeliver')).toBe('status-projection');
  });

  it('for any channel id, test, health and messages… go to the dispatcher and everything else under the channel to the registry', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        fc.constantFrom('test', 'health', 'messages', 'messages/ack', 'messages/nack', 'signing-secret', 'signing-secret/rotate', ''),
        fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT'),
        fc.constantFrom('', '?limit=5'),
        (id, rest, method, query) => {
          const path = `/v1/channels/${id}${rest ? `/${rest}` : ''}${query}`;
          const dispatcher = /^(test|health|messages)/.test(rest);
          expect(serviceFor(method, path)).toBe(dispatcher ? 'dispatcher' : 'channel-registry');
        },
      ),
    );
  });

  it('for any transaction id and sub-resource, every method goes to the status projection', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/).filter((id) => id !== 'batch'),
        fc.constantFrom('', '/events', '/accept', '/redeliver'),
        fc.constantFrom('GET', 'POST'),
        (id, rest, method) => {
          expect(serviceFor(method, `/v1/transactions/${id}${rest}`)).toBe('status-projection');
        },
      ),
    );
  });
});
