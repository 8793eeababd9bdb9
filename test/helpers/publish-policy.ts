// Publishing a policy through a running server as tests set one up: the admin publishes, and when the
// policy in force says the publication needs approval (by default, a second admin), a second admin
// approves the admin change and the helper waits until it is applied.
import type { PersonCredentials } from './test-callers.js';
import { waitUntil } from './access-world.js';

type Api = <T>(as: PersonCredentials | undefined, method: string, path: string, body?: unknown) => Promise<{ status: number; body: T }>;

export async function publishPolicy(api: Api, admin: PersonCredentials, secondAdmin: () => Promise<PersonCredentials>, yaml: string): Promise<string> {
  const res = await api<{ publication?: { versionHash: string }; awaitingApproval?: { id: string } }>(admin, 'POST', '/api/policies', { document: yaml });
  if (res.status === 201 || res.status === 200) return res.body.publication!.versionHash;
  if (res.status !== 202) throw new Error(`publishing failed: ${res.status} ${JSON.stringify(res.body)}`);
  const id = res.body.awaitingApproval!.id;
  const approver = await secondAdmin();
  await waitUntil(`admin change ${id} to be decided`, async () => {
    const decided = await api<{ error?: { message: string } }>(approver, 'POST', `/api/admin-changes/${id}/decision`, { verdict: 'approve', reason: 'reviewed in the test' });
    // The gate may still be opening (409); any other refusal is a failure of the setup.
    if (decided.status === 200) return true;
    if (decided.status !== 409) throw new Error(`approving admin change ${id} failed: ${decided.status} ${JSON.stringify(decided.body)}`);
    return undefined;
  });
  const applied = await waitUntil(`admin change ${id} to close`, async () => {
    const c = await api<{ status: string; closingReason?: string; result?: { publication: { versionHash: string } } }>(admin, 'GET', `/api/admin-changes/${id}`);
    return c.body.status === 'pending' ? undefined : c.body;
  });
  if (applied.status !== 'applied') throw new Error(`admin change ${id} ended ${applied.status}: ${applied.closingReason}`);
  return applied.result!.publication.versionHash;
}
