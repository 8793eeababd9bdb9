// The egress policy on its own: what it refuses, what the allow-list lets through, and that every
// address a name resolves to is judged. Names resolve through a stand-in resolver where a test needs
// an answer the machine's DNS cannot give (a public name, a rebinding answer); addresses and
// "localhost" go through the real system resolver.
import { describe, expect, it } from 'vitest';
import { ConnectionFailed } from './errors.js';
import { createEgressPolicy, egressPolicyFrom, parseEgressAllow, type ResolvedAddress } from './egress.js';

const refusal = async (p: Promise<unknown>) => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectionFailed);
  return (err as ConnectionFailed).message;
};
const answers: Record<string, ResolvedAddress[]> = {
  'api.example.com': [{ address: '93.184.216.34', family: 4 }],
  'rebind.example.com': [{ address: '93.184.216.34', family: 4 }, { address: '169.254.169.254', family: 4 }],
  'db.internal': [{ address: '10.0.0.5', family: 4 }],
};
// Stand-in resolver: the test machine's DNS cannot answer for these names.
const resolveName = async (host: string) => {
  const a = answers[host];
  if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return a;
};

describe('the connector egress policy', () => {
  it('refuses loopback, link-local, unique-local and unspecified addresses, naming why and how to allow', async () => {
    const policy = createEgressPolicy({ allow: [], ownHosts: [], resolveName });
    for (const [host, why] of [
      ['127.0.0.1', /loopback/],
      ['::1', /loopback/],
      ['::ffff:127.0.0.1', /loopback/],
      ['169.254.169.254', /link-local \(cloud metadata/],
      ['[fe80::1]', /link-local/],
      ['fd12:3456::1', /unique-local/],
      ['0.0.0.0', /unspecified/],
    ] as const) {
      expect(await refusal(policy.resolve(host, 'crm')), host).toMatch(why);
    }
    expect(await refusal(policy.resolve('169.254.169.254', 'crm'))).toBe('crm: the egress policy refuses 169.254.169.254: it is link-local (cloud metadata lives here); an operator can allow it with CONNECTOR_EGRESS_ALLOW');
  });

  it('refuses a name when any address it resolves to is refused (a rebinding answer), and resolves the rest', async () => {
    const policy = createEgressPolicy({ allow: [], ownHosts: [], resolveName });
    expect(await policy.resolve('api.example.com', 'crm')).toEqual([{ address: '93.184.216.34', family: 4 }]);
    expect(await refusal(policy.resolve('rebind.example.com', 'crm'))).toMatch(/refuses rebind\.example\.com \(169\.254\.169\.254\)/);
    expect(await refusal(policy.resolve('nowhere.example.com', 'crm'))).toMatch(/cannot resolve nowhere\.example\.com \(ENOTFOUND\)/);
  });

  it("refuses Gatehouse's own PostgreSQL, Temporal and Vault hosts, by name and by address", async () => {
    const policy = egressPolicyFrom({}, ['postgres://app:pw@db.internal:5432/gatehouse', 'temporal.internal:7233', undefined]);
    expect(await refusal(policy.resolve('db.internal', 'hr'))).toMatch(/own services/);
    expect(await refusal(policy.resolve('temporal.internal', 'hr'))).toMatch(/own services/);
    const byAddress = createEgressPolicy({ allow: [], ownHosts: ['db.internal'], resolveName });
    expect(await refusal(byAddress.resolve('10.0.0.5', 'hr'))).toMatch(/own services/);
  });

  it('lets through what the allow-list names: an address, a range or a host name', async () => {
    const policy = createEgressPolicy({ allow: ['127.0.0.0/8', '::1', 'db.internal'], ownHosts: ['db.internal'], resolveName });
    expect(await policy.resolve('127.0.0.1', 'crm')).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect(await policy.resolve('::1', 'crm')).toEqual([{ address: '::1', family: 6 }]);
    expect(await policy.resolve('db.internal', 'crm')).toEqual([{ address: '10.0.0.5', family: 4 }]);
    expect(await refusal(policy.resolve('169.254.169.254', 'crm'))).toMatch(/link-local/);
    // Real resolution: localhost is loopback, allowed here, refused without the list.
    expect((await createEgressPolicy({ allow: ['127.0.0.0/8', '::1'], ownHosts: [] }).resolve('localhost', 'crm')).length).toBeGreaterThan(0);
    expect(await refusal(createEgressPolicy({ allow: [], ownHosts: [] }).resolve('localhost', 'crm'))).toMatch(/loopback/);
  });

  it('refuses an allow-list entry that is not an address, a range or a name, naming it', () => {
    expect(() => parseEgressAllow(['10.0.0.0/33'])).toThrow('"10.0.0.0/33" is not an address or a CIDR range');
    expect(() => parseEgressAllow(['http://x'])).toThrow('"http://x" is not an address, a CIDR range or a host name');
    expect(() => parseEgressAllow(['', ' 10.0.0.0/8 '])).not.toThrow();
  });
});
