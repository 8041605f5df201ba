import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';

/**
 * The SSRF guard for partner destinations (channel URLs, OAuth2 token URLs).
 *
 * Waybill POSTs to URLs that its users register, so a URL must never reach Waybill's own network:
 * loopback, private (RFC 1918), link-local (cloud metadata lives there), unique-local, CGNAT,
 * multicast, reserved and documentation ranges are refused, and so are their disguises — IPv4 in
 * decimal, octal or hex, IPv4-mapped / IPv4-compatible / NAT64 / 6to4 / Teredo IPv6, and names that
 * resolve to any of them. The deployment may allow private targets
 * (`WAYBILL_ALLOW_PRIVATE_TARGETS=true`, the default in development).
 *
 * Checking at registration is not enough: a name can resolve elsewhere later (DNS rebinding). The
 * same rules are therefore offered for connect time ({@link guardedLookup}, {@link checkHost}):
 * the dispatcher connects only to an address it has just checked.
 */

/**
 * Which non-public addresses may be reached: none (`false`), all (`true`: development, tests), or
 * only those in these CIDR ranges (`['10.20.0.0/16']`: an on-premises partner). Local names
 * (`localhost`, `*.internal`, metadata services) are refused unless all are allowed, and an
 * allowed range matches an address only in its own family and form (an IPv4 range never lets
 * through the IPv4-mapped or NAT64 disguise of one of its addresses).
 */
export type PrivateTargets = boolean | readonly string[];

export interface DestinationPolicy {
  /** Allow loopback, private and other non-public addresses (development, tests, on-premises partners). */
  allowPrivate: PrivateTargets;
  /** Accept `https` only (production). */
  httpsOnly: boolean;
}

/** Why a destination is refused, in words a user can act on; `null` when it is allowed. */
export type Refusal = string | null;

/** Resolves a host name to every address it has (A and AAAA), as connections would. */
export type Resolver = (hostname: string) => Promise<string[]>;

/** The system resolver (getaddrinfo: /etc/hosts, then DNS), which is what sockets use. */
export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) =>
      err ? reject(err) : resolve(addresses.map((a) => a.address)),
    ),
  );

/** Names that are never public, whatever they resolve to (RFC 6761, cloud metadata services, mDNS). */
const LOCAL_NAMES = new Set(['localhost', 'metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);
const LOCAL_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa'];

/** Public-range addresses that are still a cloud platform's own endpoints. */
const EXTRA_FORBIDDEN: Array<[ipaddr.IPv4 | ipaddr.IPv6, number, string]> = [
  [ipaddr.parse('168.63.129.16'), 32, 'the Azure platform endpoint (WireServer)'],
];

const V4_REASONS: Partial<Record<string, string>> = {
  unspecified: 'an unspecified address (0.0.0.0/8)',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address (169.254.0.0/16, where cloud metadata services live)',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address (100.64.0.0/10)',
  private: 'a private address (RFC 1918)',
  reserved: 'a reserved or documentation address',
  as112: 'an AS112 address',
  amt: 'an AMT relay address',
};

/**
 * Checks one IP address (any textual form ipaddr.js reads: dotted, decimal, octal, hex IPv4; IPv6
 * with or without a zone). Returns why it is refused, or null when it is a public unicast address.
 */
export function checkAddress(address: string): Refusal {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address);
  } catch {
    return `${address} is not an IP address`;
  }
  return ip.kind() === 'ipv4' ? checkV4(ip as ipaddr.IPv4, address) : checkV6(ip as ipaddr.IPv6, address);
}

function checkV4(ip: ipaddr.IPv4, shown: string): Refusal {
  const why = v4Reason(ip);
  return why ? `${shown} is ${why}` : null;
}

/** What an IPv4 address is when it is not public unicast, or null. */
function v4Reason(ip: ipaddr.IPv4): string | null {
  const range = ip.range();
  if (range !== 'unicast') return V4_REASONS[range] ?? `a non-public address (${range})`;
  for (const [net, bits, what] of EXTRA_FORBIDDEN) {
    if (net.kind() === 'ipv4' && ip.match(net as ipaddr.IPv4, bits)) return what;
  }
  return null;
}

function checkV6(ip: ipaddr.IPv6, shown: string): Refusal {
  const range = ip.range();
  const p = ip.parts;
  const embedded = (hi: number, lo: number): ipaddr.IPv4 => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const via = (v4: ipaddr.IPv4, how: string): Refusal => {
    const why = v4Reason(v4);
    return why ? `${shown} is ${how} of ${v4.toString()}, ${why}` : null;
  };
  // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291): the first 96 bits are zero.
  if (range !== 'unspecified' && range !== 'loopback' && p.slice(0, 6).every((x) => x === 0)) {
    return `${shown} is an IPv4-compatible IPv6 address (deprecated)`;
  }
  switch (range) {
    case 'unicast':
      return null;
    case 'ipv4Mapped':
      return via(ip.toIPv4Address(), 'the IPv4-mapped form');
    case 'rfc6145':
      return via(embedded(p[6], p[7]), 'the IPv4-translated form');
    case 'rfc6052':
      // 64:ff9b::/96 carries the IPv4 address in its last 32 bits; 64:ff9b:1::/48 is a local-use prefix.
      if (p[2] === 1) return `${shown} is in the local-use NAT64 prefix (64:ff9b:1::/48)`;
      return via(embedded(p[6], p[7]), 'the NAT64 form');
    case '6to4':
      return via(embedded(p[1], p[2]), 'a 6to4 address');
    case 'teredo':
      return `${shown} is a Teredo tunnel address`;
    case 'loopback':
      return `${shown} is the IPv6 loopback address`;
    case 'unspecified':
      return `${shown} is the unspecified IPv6 address`;
    case 'linkLocal':
      return `${shown} is a link-local IPv6 address`;
    case 'uniqueLocal':
      return `${shown} is a unique-local IPv6 address (fc00::/7, AWS's IPv6 metadata service among them)`;
    case 'multicast':
      return `${shown} is a multicast IPv6 address`;
    default:
      return `${shown} is a non-public IPv6 address (${range})`;
  }
}

/** The host part of a URL without IPv6 brackets and without a trailing root dot. */
function bareHost(hostname: string): string {
  const h = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** True for a host given as an IP address in any form sockets would read as one. */
export function isIpLiteral(hostname: string): boolean {
  return ipaddr.isValid(bareHost(hostname));
}

/**
 * Reads a list of CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`, a bare address meaning just it);
 * throws with the entry at fault. Answers them normalised.
 */
export function parseCidrList(list: readonly string[]): string[] {
  return list.map((entry) => {
    const text = entry.trim();
    try {
      const [ip, bits] = text.includes('/') ? ipaddr.parseCIDR(text) : [ipaddr.parse(text), undefined];
      const width = bits ?? (ip.kind() === 'ipv4' ? 32 : 128);
      return `${ip.toString()}/${width}`;
    } catch {
      throw new Error(`${JSON.stringify(entry)} is not a CIDR range (like 203.0.113.0/24 or 2001:db8::/32)`);
    }
  });
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];
const parsedRanges = new WeakMap<readonly string[], Range[]>();

function rangesOf(list: readonly string[]): Range[] {
  let ranges = parsedRanges.get(list);
  if (!ranges) {
    ranges = parseCidrList(list).map((c) => ipaddr.parseCIDR(c));
    parsedRanges.set(list, ranges);
  }
  return ranges;
}

/** Why `address` may not be connected to under `allow`, or null. */
export function checkAddressAllowing(address: string, allow: PrivateTargets): Refusal {
  if (allow === true) return null;
  if (allow !== false && ipaddr.isValid(address)) {
    const ip = ipaddr.parse(address);
    if (rangesOf(allow).some(([net, bits]) => net.kind() === ip.kind() && ip.match(net as never, bits))) return null;
  }
  return checkAddress(address);
}

/** Refuses names that are local by definition (`localhost`, `*.internal`, metadata services…). */
export function checkHostName(hostname: string): Refusal {
  const h = bareHost(hostname).toLowerCase();
  if (LOCAL_NAMES.has(h) || LOCAL_SUFFIXES.some((s) => h.endsWith(s))) return `${h} is a local or metadata host name`;
  return null;
}

/**
 * Checks a host as a connection would reach it: an IP literal is checked as it is; a name is
 * checked by name, then resolved, and refused if ANY of its addresses is (a name that mixes public
 * and private addresses is not trusted). Allowed when `allowPrivate` is set.
 */
export async function checkHost(hostname: string, allowPrivate: PrivateTargets, resolve: Resolver = systemResolver): Promise<Refusal> {
  if (allowPrivate === true) return null;
  const host = bareHost(hostname);
  if (ipaddr.isValid(host)) return checkAddressAllowing(host, allowPrivate);
  const byName = checkHostName(host);
  if (byName) return byName;
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch (err) {
    return `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  if (addresses.length === 0) return `${host} does not resolve`;
  for (const a of addresses) {
    const refused = checkAddressAllowing(a, allowPrivate);
    if (refused) return `${host} resolves to ${refused}`;
  }
  return null;
}

/**
 * The structural rules of a destination URL, without any I/O: absolute, `http` or `https` (only
 * `https` when `httpsOnly`), no credentials, a host. Returns the parsed URL or why it is refused.
 */
export function parseDestinationUrl(url: string, httpsOnly: boolean): { ok: true; url: URL } | { ok: false; reason: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'not a valid absolute URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { ok: false, reason: 'must be http or https' };
  if (httpsOnly && parsed.protocol !== 'https:') return { ok: false, reason: 'must be https in production' };
  if (parsed.username || parsed.password) return { ok: false, reason: 'must not carry credentials; use the channel auth instead' };
  if (!parsed.hostname) return { ok: false, reason: 'has no host' };
  return { ok: true, url: parsed };
}

/**
 * Every rule of a destination URL: the structural ones, then the network ones (the host resolved
 * and each of its addresses checked), unless the policy allows private targets. Returns why it is
 * refused, or null.
 */
export async function checkDestination(url: string, policy: DestinationPolicy, resolve: Resolver = systemResolver): Promise<Refusal> {
  const parsed = parseDestinationUrl(url, policy.httpsOnly);
  if (!parsed.ok) return parsed.reason;
  const refused = await checkHost(parsed.url.hostname, policy.allowPrivate, resolve);
  return refused ? `refused: ${refused}` : null;
}

/** The error a guarded connection fails with: `code` `EDESTINATIONREFUSED`. */
export class DestinationRefusedError extends Error {
  readonly code = 'EDESTINATIONREFUSED';
  constructor(reason: string) {
    super(`destination refused: ${reason}`);
    this.name = 'DestinationRefusedError';
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
/** The shape of `lookup` that `net.connect`, `tls.connect` and undici's `connect` options take. */
export type GuardedLookup = (hostname: string, options: LookupOneOptions | LookupAllOptions | number, callback: LookupCallback) => void;

/**
 * A `lookup` for sockets (`net.connect`, `tls.connect`, undici `Agent({ connect: { lookup } })`)
 * that resolves as usual and fails with {@link DestinationRefusedError} when the name has a
 * refused address — so a name cannot be rebound to a private address between the check and the
 * connection. Sockets skip `lookup` for IP literals: check those with {@link checkAddress} (or use
 * {@link assertConnectable}) before connecting.
 */
export function guardedLookup(allowPrivate: PrivateTargets): GuardedLookup {
  return (hostname, options, callback) => {
    const opts = typeof options === 'number' ? { family: options } : options;
    dnsLookup(hostname, { ...opts, all: true, verbatim: true }, (err, addresses) => {
      if (err) return callback(err, opts.all ? [] : '');
      if (allowPrivate !== true) {
        const refused =
          checkHostName(hostname) ?? addresses.map((a) => checkAddressAllowing(a.address, allowPrivate)).find((r) => r !== null) ?? null;
        if (refused) return callback(new DestinationRefusedError(`${hostname} resolves to ${refused}`), opts.all ? [] : '');
      }
      if (opts.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}

/**
 * Resolves `hostname` as a connection would and answers the address to connect to, checked: an IP
 * literal as it is, a name through the system resolver with every one of its addresses checked
 * (a name that mixes public and refused addresses is refused). Throws
 * {@link DestinationRefusedError} when refused. Used where the connection is made by someone else
 * (an egress proxy asked to CONNECT to the address, not the name).
 */
export async function resolveConnectable(hostname: string, allowPrivate: PrivateTargets): Promise<{ address: string; family: 4 | 6 }> {
  const host = bareHost(hostname);
  if (ipaddr.isValid(host)) {
    assertConnectable(host, allowPrivate);
    const ip = ipaddr.parse(host);
    return { address: ip.toString(), family: ip.kind() === 'ipv4' ? 4 : 6 };
  }
  if (allowPrivate !== true) {
    const byName = checkHostName(host);
    if (byName) throw new DestinationRefusedError(byName);
  }
  const addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
    dnsLookup(host, { all: true, verbatim: true }, (err, found) => (err ? reject(err) : resolve(found))),
  );
  if (addresses.length === 0) throw Object.assign(new Error(`${host} does not resolve`), { code: 'ENOTFOUND' });
  for (const a of addresses) {
    const refused = checkAddressAllowing(a.address, allowPrivate);
    if (refused) throw new DestinationRefusedError(`${host} resolves to ${refused}`);
  }
  return { address: addresses[0].address, family: addresses[0].family === 6 ? 6 : 4 };
}

/**
 * Connect-time check of an origin's host: throws {@link DestinationRefusedError} for a refused IP
 * literal (which sockets never pass to `lookup`) or a local name. Names are then checked by
 * {@link guardedLookup} as the socket resolves them.
 */
export function assertConnectable(hostname: string, allowPrivate: PrivateTargets): void {
  if (allowPrivate === true) return;
  const host = bareHost(hostname);
  const refused = ipaddr.isValid(host) ? checkAddressAllowing(host, allowPrivate) : checkHostName(host);
  if (refused) throw new DestinationRefusedError(refused);
}
