// Where connectors may connect (issue 12, item 4). A connector's configuration names a host, and an
// administrator (or whoever reaches the connector API) chooses it: without a policy, a connector test
// could reach the cloud metadata service, Gatehouse's own PostgreSQL, Temporal or Vault, or anything
// on loopback. So every connector resolves its host through this guard, which refuses loopback,
// link-local, unique-local (fd00::/8) and unspecified addresses and the hosts of Gatehouse's own
// services, unless the operator's allow-list (CONNECTOR_EGRESS_ALLOW) names them. The guard returns the
// addresses it checked, and the connector connects to exactly those: a name that resolves to a public
// address when checked and to 169.254.169.254 a moment later (DNS rebinding) gains nothing.
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from 'undici';
import { ConnectionFailed } from './errors.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface EgressGuard {
  /** The addresses `host` resolves to, each allowed by the policy; refuses (ConnectionFailed) otherwise. */
  resolve(host: string, label: string): Promise<ResolvedAddress[]>;
}

/** Ranges no connector reaches unless the allow-list names them. */
const DENIED: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['0.0.0.0', 8, 'ipv4', 'unspecified'],
  ['169.254.0.0', 16, 'ipv4', 'link-local (cloud metadata lives here)'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['fd00::', 8, 'ipv6', 'unique-local'],
];

/** An IPv4 address written as IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it is. */
function normalise(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, type: 'ipv4' };
  return { address, type: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

export interface EgressPolicyOptions {
  /** CONNECTOR_EGRESS_ALLOW: addresses, CIDR ranges and host names connectors may reach even if denied. */
  allow: readonly string[];
  /** Hosts of Gatehouse's own services (PostgreSQL, Temporal, Vault): denied unless allowed. */
  ownHosts: readonly string[];
  /** How names are resolved (the system resolver). */
  resolveName?: (host: string) => Promise<ResolvedAddress[]>;
}

const systemResolve = async (host: string): Promise<ResolvedAddress[]> =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((r) => ({ address: r.address, family: r.family === 6 ? 6 : 4 }));

/** Parses the allow-list: each entry an IP address, a CIDR range or a host name. Throws naming the entry. */
export function parseEgressAllow(entries: readonly string[]): { ranges: BlockList; names: Set<string> } {
  const ranges = new BlockList();
  const names = new Set<string>();
  for (const raw of entries) {
    const entry = raw.trim();
    if (!entry) continue;
    const [ip, bits, ...rest] = entry.split('/');
    const family = isIP(ip ?? '');
    if (family) {
      const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
      if (rest.length || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new Error(`"${entry}" is not an address or a CIDR range`);
      const n = normalise(ip!);
      ranges.addSubnet(n.address, n.type === 'ipv4' && family === 6 ? Math.max(0, prefix - 96) : prefix, n.type);
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(entry)) {
      names.add(entry.toLowerCase());
    } else {
      throw new Error(`"${entry}" is not an address, a CIDR range or a host name`);
    }
  }
  return { ranges, names };
}

export function createEgressPolicy(options: EgressPolicyOptions): EgressGuard {
  const allowed = parseEgressAllow(options.allow);
  const denied = DENIED.map(([address, prefix, type, label]) => {
    const range = new BlockList();
    range.addSubnet(address, prefix, type);
    return { range, label };
  });
  const resolveName = options.resolveName ?? systemResolve;
  const ownNames = new Set(options.ownHosts.map((h) => h.toLowerCase()));
  // The own services' addresses, resolved once (they do not move while Gatehouse runs).
  let own: Promise<Set<string>> | undefined;
  const ownAddresses = () =>
    (own ??= Promise.all(
      [...ownNames].map(async (h) => (isIP(h) ? [normalise(h).address] : (await resolveName(h).catch(() => [])).map((r) => normalise(r.address).address))),
    ).then((lists) => new Set(lists.flat())));

  const why = async (address: string): Promise<string | undefined> => {
    const n = normalise(address);
    if (allowed.ranges.check(n.address, n.type)) return undefined;
    const range = denied.find((d) => d.range.check(n.address, n.type));
    if (range) return range.label;
    if ((await ownAddresses()).has(n.address)) return "one of Gatehouse's own services (PostgreSQL, Temporal or Vault)";
    return undefined;
  };

  return {
    async resolve(host, label) {
      const name = host.replace(/^\[|\]$/g, '').toLowerCase();
      const refuse = (reason: string, address?: string) =>
        new ConnectionFailed(
          `${label}: the egress policy refuses ${host}${address && address !== name ? ` (${address})` : ''}: ${reason}; an operator can allow it with CONNECTOR_EGRESS_ALLOW`,
          { details: { egress: 'refused' } },
        );
      if (allowed.names.has(name)) return isIP(name) ? [{ address: name, family: isIP(name) === 6 ? 6 : 4 }] : resolveName(name);
      if (!isIP(name) && ownNames.has(name)) throw refuse("one of Gatehouse's own services (PostgreSQL, Temporal or Vault)");
      let addresses: ResolvedAddress[];
      if (isIP(name)) addresses = [{ address: name, family: isIP(name) === 6 ? 6 : 4 }];
      else {
        try {
          addresses = await resolveName(name);
        } catch (err) {
          throw new ConnectionFailed(`${label}: cannot resolve ${host} (${(err as { code?: string }).code ?? 'no address'})`, { details: { code: (err as { code?: string }).code ?? 'ENOTFOUND' } });
        }
      }
      if (!addresses.length) throw new ConnectionFailed(`${label}: ${host} resolves to no address`);
      // Every address the name has must be allowed: a resolver answering with a mix picks which one is used.
      for (const a of addresses) {
        const reason = await why(a.address);
        if (reason) throw refuse(`it is ${reason}`, a.address);
      }
      return addresses;
    },
  };
}

/** The policy from the environment and the own services' URLs (as the server and the worker run it). */
export function egressPolicyFrom(env: { CONNECTOR_EGRESS_ALLOW?: string | undefined }, ownUrls: readonly (string | undefined)[]): EgressGuard {
  const ownHosts = ownUrls.flatMap((u) => {
    if (!u) return [];
    try {
      return [new URL(u.includes('://') ? u : `tcp://${u}`).hostname.replace(/^\[|\]$/g, '')];
    } catch {
      return [];
    }
  });
  return createEgressPolicy({ allow: (env.CONNECTOR_EGRESS_ALLOW ?? '').split(','), ownHosts });
}

/**
 * A `lookup` for sockets (net, tls, undici) that resolves through the guard: every new connection
 * is judged at the moment it resolves, and connects to the address judged.
 */
export function guardedLookup(guard: EgressGuard, label: string): LookupFunction {
  return (hostname, options, callback) => {
    guard.resolve(hostname, label).then(
      (addresses) => {
        const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
        const fitting = family ? addresses.filter((a) => a.family === family) : addresses;
        if (!fitting.length) return callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '', family || 4);
        if (options.all) return callback(null, fitting);
        return callback(null, fitting[0]!.address, fitting[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 4),
    );
  };
}

let fromEnvironment: EgressGuard | undefined;
/** The policy for connectors built without one: CONNECTOR_EGRESS_ALLOW and the own services as the environment names them. */
export function environmentEgress(): EgressGuard {
  const env = process.env;
  fromEnvironment ??= egressPolicyFrom(env, [env.DATABASE_URL, env.DATABASE_APP_URL, env.DATABASE_LEDGER_URL, env.TEMPORAL_ADDRESS, env.VAULT_ADDR]);
  return fromEnvironment;
}

/**
 * fetch for connectors: each host is judged before its first request (so a refusal says why), and
 * every connection resolves through the guard and connects to the address it judged. An address
 * literal is judged before use too (sockets do not look addresses up). Close it with the connector.
 */
export function createGuardedFetch(guard: EgressGuard, label: string): { fetch(url: URL, init: RequestInit): Promise<Response>; close(): Promise<void> } {
  const dispatcher = new Agent({ connect: { lookup: guardedLookup(guard, label) } });
  const judged = new Map<string, Promise<unknown>>();
  return {
    async fetch(url, init) {
      let judging = judged.get(url.hostname);
      if (!judging) {
        judging = guard.resolve(url.hostname, label);
        judged.set(url.hostname, judging);
        judging.catch(() => judged.delete(url.hostname));
      }
      await judging;
      try {
        return (await undiciFetch(url, { ...(init as UndiciRequestInit), dispatcher })) as unknown as Response;
      } catch (err) {
        // A connection refused by the guard (a name that resolved elsewhere since): say so, not "fetch failed".
        const cause = (err as { cause?: unknown }).cause;
        if (cause instanceof ConnectionFailed) throw cause;
        throw err;
      }
    },
    close: () => dispatcher.close(),
  };
}
