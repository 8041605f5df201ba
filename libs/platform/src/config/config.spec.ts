import { ConfigError, loadConfig } from './config';

describe('configuration: egress and private targets', () => {
  it('without egress settings: no proxy, no source address, no ranges', () => {
    expect(loadConfig({}).egress).toEqual({ proxy: undefined, sourceAddress: undefined, ranges: [] });
  });

  it('reads the egress settings, ranges normalised', () => {
    const config = loadConfig({
      WAYBILL_EGRESS_PROXY: 'http://egress:secret@proxy.internal:3128',
      WAYBILL_EGRESS_SOURCE_ADDRESS: '203.0.113.7',
      WAYBILL_EGRESS_RANGES: '203.0.113.0/24, 2001:DB8::/48,198.51.100.9',
    });
    expect(config.egress).toEqual({
      proxy: 'http://egress:secret@proxy.internal:3128',
      sourceAddress: '203.0.113.7',
      ranges: ['203.0.113.0/24', '2001:db8::/48', '198.51.100.9/32'],
    });
  });

  it.each([
    ['WAYBILL_EGRESS_RANGES', '203.0.113.0/24,not-a-range', /WAYBILL_EGRESS_RANGES: "not-a-range" is not a CIDR range/],
    ['WAYBILL_EGRESS_RANGES', '203.0.113.0/33', /WAYBILL_EGRESS_RANGES/],
    ['WAYBILL_EGRESS_PROXY', 'https://proxy.internal:3128', /WAYBILL_EGRESS_PROXY: an http:\/\/ URL/],
    ['WAYBILL_EGRESS_PROXY', 'proxy.internal:3128', /WAYBILL_EGRESS_PROXY/],
    ['WAYBILL_EGRESS_SOURCE_ADDRESS', 'eth0', /WAYBILL_EGRESS_SOURCE_ADDRESS: an IP address/],
    ['WAYBILL_ALLOW_PRIVATE_TARGETS', 'sometimes', /WAYBILL_ALLOW_PRIVATE_TARGETS: true, false, or CIDR ranges/],
  ])('refuses %s=%s at boot, naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('private targets: a boolean, the default by environment, or CIDR ranges', () => {
    expect(loadConfig({}).allowPrivateTargets).toBe(true);
    expect(loadConfig({ WAYBILL_ENV: 'production' }).allowPrivateTargets).toBe(false);
    expect(loadConfig({ WAYBILL_ALLOW_PRIVATE_TARGETS: 'no' }).allowPrivateTargets).toBe(false);
    expect(loadConfig({ WAYBILL_ALLOW_PRIVATE_TARGETS: '10.20.0.0/16,127.0.0.2' }).allowPrivateTargets).toEqual(['10.20.0.0/16', '127.0.0.2/32']);
  });
});
