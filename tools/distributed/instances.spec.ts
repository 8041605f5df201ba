import { parseInstances } from './instances';

describe('WAYBILL_INSTANCES', () => {
  it('runs each service once unless told', () => {
    expect(parseInstances(undefined)).toEqual({ 'channel-registry': 1, 'relationship-routing': 1, dispatcher: 1, 'status-projection': 1 });
    expect(parseInstances(' ')).toEqual(parseInstances(undefined));
  });

  it('reads <service>=<count> pairs', () => {
    expect(parseInstances('dispatcher=3, status-projection=2,relationship-routing=2,channel-registry=2')).toEqual({
      'channel-registry': 2,
      'relationship-routing': 2,
      dispatcher: 3,
      'status-projection': 2,
    });
  });

  it.each([
    ['dispatcher', 'is not <service>=<count>'],
    ['dispatcher=x', 'is not <service>=<count>'],
    ['edge=2', 'no service "edge"'],
    ['dispatcher=0', 'takes 1–32 instances'],
    ['dispatcher=33', 'takes 1–32 instances'],
  ])('refuses %s', (text, message) => {
    expect(() => parseInstances(text)).toThrow(message);
  });
});
