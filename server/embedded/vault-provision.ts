// Prepares a Vault we administer (the local development one, and the tests'): the KV v2 and transit
// mounts, Gatehouse's least-privilege policy, and a periodic token holding only that policy.
// Against an operator's Vault, the README gives the same policy to apply by hand.

export async function vaultRequest(address: string, token: string | undefined, method: string, apiPath: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${address}/v1/${apiPath}`, {
    method,
    headers: { ...(token ? { 'X-Vault-Token': token } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) {
    let detail = text;
    try {
      detail = ((JSON.parse(text) as { errors?: string[] }).errors ?? []).join('; ');
    } catch {
      /* not JSON */
    }
    throw new Error(`Vault ${method} ${apiPath} failed with HTTP ${res.status}: ${detail}`);
  }
  return text ? JSON.parse(text) : {};
}

/** Gatehouse's Vault policy: its own KV paths and its own transit keys, nothing else. */
export function gatehousePolicy(kvMount: string, transitMount: string): string {
  return `
# Connector secrets and Gatehouse's own secrets live under gatehouse/ in the KV v2 mount.
path "${kvMount}/data/gatehouse/*" { capabilities = ["create", "read", "update"] }
path "${kvMount}/metadata/gatehouse/*" { capabilities = ["read", "list", "delete"] }
# Signing keys are named gatehouse-*; they can be created, read (public keys), used and rotated,
# never exported or deleted.
path "${transitMount}/keys/gatehouse-*" { capabilities = ["create", "read", "update"] }
path "${transitMount}/keys/gatehouse-*/rotate" { capabilities = ["update"] }
path "${transitMount}/sign/gatehouse-*" { capabilities = ["update"] }
path "${transitMount}/verify/gatehouse-*" { capabilities = ["update"] }
`;
}

export const POLICY_NAME = 'gatehouse';

async function ensureMount(address: string, rootToken: string, mount: string, type: 'kv-v2' | 'transit'): Promise<void> {
  const mounts = (await vaultRequest(address, rootToken, 'GET', 'sys/mounts')) as { data?: Record<string, { type: string; options?: { version?: string } }> } & Record<string, unknown>;
  const table = (mounts.data ?? mounts) as Record<string, { type: string; options?: { version?: string } }>;
  const existing = table[`${mount}/`];
  if (existing) {
    const ok = type === 'transit' ? existing.type === 'transit' : existing.type === 'kv' && existing.options?.version === '2';
    if (!ok) throw new Error(`Vault mount ${mount}/ exists but is not ${type}`);
    return;
  }
  await vaultRequest(address, rootToken, 'POST', `sys/mounts/${mount}`, type === 'transit' ? { type: 'transit' } : { type: 'kv', options: { version: '2' } });
}

/**
 * Idempotent. Returns a token that holds only Gatehouse's policy: `existingToken` when it still
 * works, otherwise a new periodic orphan token (renewed by the server while it runs).
 */
export async function provisionVault(options: {
  address: string;
  rootToken: string;
  kvMount: string;
  transitMount: string;
  policyName?: string;
  existingToken?: string;
}): Promise<string> {
  const policyName = options.policyName ?? POLICY_NAME;
  await ensureMount(options.address, options.rootToken, options.kvMount, 'kv-v2');
  await ensureMount(options.address, options.rootToken, options.transitMount, 'transit');
  await vaultRequest(options.address, options.rootToken, 'PUT', `sys/policies/acl/${policyName}`, { policy: gatehousePolicy(options.kvMount, options.transitMount) });
  if (options.existingToken) {
    try {
      await vaultRequest(options.address, options.existingToken, 'GET', 'auth/token/lookup-self');
      return options.existingToken;
    } catch {
      /* expired or revoked: make a new one */
    }
  }
  const created = (await vaultRequest(options.address, options.rootToken, 'POST', 'auth/token/create-orphan', {
    policies: [policyName],
    period: '72h',
    display_name: 'gatehouse',
    no_default_policy: false,
  })) as { auth: { client_token: string } };
  return created.auth.client_token;
}
