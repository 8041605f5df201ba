import { checkAddress, checkAddressAllowing, checkDestination, checkHost, parseCidrList, parseDestinationUrl, Resolver } from './destination-guard';

/** A resolver that answers from a table, as a DNS server under an attacker's control could. */
const zone: Record<string, string[]> = {
  'partner.example': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'rebind.example': ['10.0.0.7'],
  'mixed.example': ['93.184.215.14', '192.168.1.20'],
  'metadata-alias.example': ['169.254.169.254'],
  'v6-mapped.example': ['::ffff:127.0.0.1'],
  'ula.example': ['fd00:ec2::254'],
};
const resolver: Resolver = async (host) => {
  const found = zone[host];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found;
};

const production = { allowPrivate: false, httpsOnly: true };
const strictHttp = { allowPrivate: false, httpsOnly: false };

describe('checkAddress: every non-public address is refused, in any disguise', () => {
  it.each([
    // loopback
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['::1', /loopback/],
    // private (RFC 1918)
    ['10.0.0.1', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.0.1', /private/],
    // link-local and cloud metadata
    ['169.254.169.254', /link-local/],
    ['169.254.170.2', /link-local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['fd00:ec2::254', /unique-local/],
    ['fc00::1', /unique-local/],
    ['168.63.129.16', /Azure/],
    ['100.100.100.200', /carrier-grade NAT/],
    // CGNAT
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.254', /carrier-grade NAT/],
    // unspecified, broadcast, multicast, reserved, documentation, benchmarking
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['::', /unspecified/],
    ['255.255.255.255', /broadcast/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['240.0.0.1', /reserved/],
    ['192.0.0.192', /reserved/],
    ['192.0.2.1', /reserved/],
    ['198.18.0.1', /reserved/],
    ['2001:db8::1', /non-public/],
    // IPv4 written in decimal, octal and hex, and shortened
    ['2130706433', /loopback/],
    ['017700000001', /loopback/],
    ['0177.0.0.1', /loopback/],
    ['0x7f000001', /loopback/],
    ['0x7f.0.0.1', /loopback/],
    ['127.1', /loopback/],
    ['0xa9.0xfe.0xa9.0xfe', /link-local/],
    ['3232235777', /private/],
    // IPv4 inside IPv6
    ['::ffff:127.0.0.1', /IPv4-mapped form of 127\.0\.0\.1, a loopback/],
    ['::ffff:7f00:1', /IPv4-mapped form/],
    ['::ffff:169.254.169.254', /IPv4-mapped form of 169\.254\.169\.254/],
    ['::ffff:10.1.2.3', /IPv4-mapped form of 10\.1\.2\.3, a private/],
    ['::ffff:0:10.1.2.3', /IPv4-translated form of 10\.1\.2\.3/],
    ['::127.0.0.1', /127\.0\.0\.1, a loopback/], // ipaddr.js reads ::a.b.c.d as mapped: refused either way
    ['::7f00:1', /IPv4-compatible/],
    ['::a00:1', /IPv4-compatible/],
    ['64:ff9b::127.0.0.1', /NAT64 form of 127\.0\.0\.1/],
    ['64:ff9b::a9fe:a9fe', /NAT64 form of 169\.254\.169\.254/],
    ['64:ff9b::c0a8:1', /NAT64 form of 192\.168\.0\.1/],
    ['64:ff9b:1::a00:1', /local-use NAT64/],
    ['2002:7f00:1::1', /6to4 address of 127\.0\.0\.1/],
    ['2002:a00:1::1', /6to4 address of 10\.0\.0\.1/],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo/],
    ['not-an-ip', /not an IP address/],
  ])('%s is refused', (address, reason) => {
    expect(checkAddress(address)).toMatch(reason);
  });

  it.each([
    '93.184.215.14',
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1', // just past 172.16.0.0/12
    '100.128.0.1', // just past 100.64.0.0/10
    '2606:2800:21f:cb07:6820:80da:af6b:8b2c',
    '::ffff:93.184.215.14', // a mapped public address is public
    '64:ff9b::93.184.215.14', // NAT64 of a public address is public
    '2002:5db8:d70e::1', // 6to4 of a public address
  ])('%s is allowed', (address) => {
    expect(checkAddress(address)).toBeNull();
  });
});

describe('checkHost: names are checked by name and by every address they resolve to', () => {
  it.each([
    ['localhost', /local or metadata host name/],
    ['LOCALHOST.', /local or metadata host name/],
    ['api.localhost', /local or metadata host name/],
    ['metadata.google.internal', /local or metadata host name/],
    ['printer.local', /local or metadata host name/],
    ['rebind.example', /resolves to 10\.0\.0\.7 is a private/],
    ['mixed.example', /resolves to 192\.168\.1\.20/],
    ['metadata-alias.example', /resolves to 169\.254\.169\.254/],
    ['v6-mapped.example', /resolves to ::ffff:127\.0\.0\.1 is the IPv4-mapped form of 127\.0\.0\.1, a loopback/],
    ['ula.example', /resolves to fd00:ec2::254/],
    ['nowhere.example', /does not resolve \(ENOTFOUND\)/],
    ['[::1]', /loopback/],
    ['[::ffff:a9fe:a9fe]', /IPv4-mapped form of 169\.254\.169\.254/],
  ])('%s is refused', async (host, reason) => {
    expect(await checkHost(host, false, resolver)).toMatch(reason);
  });

  it('allows a name whose every address is public', async () => {
    expect(await checkHost('partner.example', false, resolver)).toBeNull();
  });

  it('allows anything, without resolving, when private targets are allowed', async () => {
    const never: Resolver = async () => {
      throw new Error('must not resolve');
    };
    expect(await checkHost('localhost', true, never)).toBeNull();
    expect(await checkHost('10.0.0.1', true, never)).toBeNull();
  });
});

describe('checkDestination: the URL rules, then the network rules', () => {
  it.each([
    ['ftp://partner.example/x', production, /must be http or https/],
    ['file:///etc/passwd', strictHttp, /must be http or https/],
    ['gopher://partner.example', strictHttp, /must be http or https/],
    ['http://partner.example/hook', production, /https in production/],
    ['https://user:pw@partner.example/hook', production, /credentials/],
    ['https://user@partner.example/hook', production, /credentials/],
    ['not a url', production, /not a valid absolute URL/],
    ['/relative/path', production, /not a valid absolute URL/],
    // IPv4 forms that the URL parser normalises, and IPv6 literals
    ['http://2130706433/', strictHttp, /127\.0\.0\.1 is a loopback/],
    ['http://0x7f.1/', strictHttp, /127\.0\.0\.1 is a loopback/],
    ['http://0177.0.0.1/', strictHttp, /127\.0\.0\.1 is a loopback/],
    ['http://017700000001/', strictHttp, /127\.0\.0\.1 is a loopback/],
    ['http://127.1:8080/', strictHttp, /loopback/],
    ['http://0/', strictHttp, /unspecified/],
    ['http://169.254.169.254/latest/meta-data/', strictHttp, /link-local/],
    ['http://[::1]:3000/', strictHttp, /loopback/],
    ['http://[::ffff:127.0.0.1]/', strictHttp, /IPv4-mapped form of 127\.0\.0\.1/],
    ['http://[::ffff:a9fe:a9fe]/', strictHttp, /IPv4-mapped form of 169\.254\.169\.254/],
    ['http://[64:ff9b::a9fe:a9fe]/', strictHttp, /NAT64 form of 169\.254\.169\.254/],
    ['http://[fd00:ec2::254]/', strictHttp, /unique-local/],
    ['http://[fe80::1]/', strictHttp, /link-local/],
    ['https://localhost:8443/', production, /local or metadata host name/],
    ['https://rebind.example/hook', production, /10\.0\.0\.7 is a private/],
  ])('%s is refused', async (url, policy, reason) => {
    expect(await checkDestination(url, policy, resolver)).toMatch(reason);
  });

  it('accepts a public https URL in production', async () => {
    expect(await checkDestination('https://partner.example/hook?x=1', production, resolver)).toBeNull();
  });

  it('accepts a loopback http URL where private targets are allowed', async () => {
    expect(await checkDestination('http://127.0.0.1:4000/orders', { allowPrivate: true, httpsOnly: false }, resolver)).toBeNull();
  });

  it('parses without I/O', () => {
    expect(parseDestinationUrl('https://partner.example:8443/a?b=c', true)).toEqual({ ok: true, url: new URL('https://partner.example:8443/a?b=c') });
  });
});

describe('private targets allowed by range (an on-premises partner)', () => {
  const allow = ['10.20.0.0/16', '127.0.0.2'];

  it('parseCidrList normalises ranges and bare addresses, and names an entry that is not one', () => {
    expect(parseCidrList(['10.20.0.0/16', '127.0.0.2', '2001:DB8::/32'])).toEqual(['10.20.0.0/16', '127.0.0.2/32', '2001:db8::/32']);
    expect(() => parseCidrList(['10.0.0.0/8', 'ten'])).toThrow(/"ten" is not a CIDR range/);
    expect(() => parseCidrList(['10.0.0.0/33'])).toThrow(/not a CIDR range/);
  });

  it.each(['10.20.3.4', '127.0.0.2'])('%s, in an allowed range, is allowed', (address) => {
    expect(checkAddressAllowing(address, allow)).toBeNull();
  });

  it.each([
    ['127.0.0.1', /loopback/],
    ['10.21.0.1', /private/],
    ['::ffff:127.0.0.2', /IPv4-mapped/],
    ['64:ff9b::a14:304', /NAT64/],
    ['169.254.169.254', /link-local/],
  ])('%s, outside the ranges or a disguise of an address inside them, is still refused', (address, reason) => {
    expect(checkAddressAllowing(address, allow)).toMatch(reason);
  });

  it('local names stay refused, whatever they resolve to', async () => {
    expect(await checkHost('localhost', allow, async () => ['127.0.0.2'])).toMatch(/local or metadata host name/);
    expect(await checkHost('erp.acme.example', allow, async () => ['10.20.0.9'])).toBeNull();
    expect(await checkHost('erp.acme.example', allow, async () => ['10.20.0.9', '10.30.0.1'])).toMatch(/private/);
  });
});
