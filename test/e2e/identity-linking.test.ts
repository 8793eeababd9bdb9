// Issue 12, item 1: a directory cannot make someone an approver, an owner or a requester elsewhere.
// Directory A names the issuer Acme's people sign in through; directory B belongs to another identity
// provider (its own issuer). Whatever B's SCIM token pushes (Zed's e-mail, the owner's e-mail, a group
// named like the policy's approver group), nothing changes about who may decide, own or request in A.
// All real: PostgreSQL, Temporal, Vault, the PostgreSQL target, the gate's real Update.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import { createDecisionSigner } from '../../policies/decision-signer.js';
import { createIdentityResolver } from '../../server/access/identity-resolver.js';
import { createRequestService, type RequestService } from '../../server/access/request-service.js';
import { GatehouseError } from '../../shared/errors.js';
import { approvalWorkflowId, decideUpdate } from '../../workflows/approval/workflow.js';
import { LEDGER_ACTIONS } from '../../workflows/change/change-authority.js';
import { createAccessWorld, updateRefusal, type AccessWorld, type Person } from '../helpers/access-world.js';
import { TEST_ADMIN } from '../helpers/services.js';

const PARTNER_ISSUER = 'https://partner-idp.test.example';

describe('people are linked to identities only in the directories that name their issuer', () => {
  let w: AccessWorld;
  let dana: Person; // the subject, in A
  let mia: Person; // Dana's manager, in A's finance-approvers group
  let zed: Person; // an ordinary person in A
  let owen: Person; // owns the lapse entitlement (named by e-mail in the policy)
  let requests: RequestService;
  let pushToB: (body: Record<string, unknown>, type?: 'User' | 'Group') => Promise<string>;
  const groups = { finance: '', lapse: '' };

  beforeAll(async () => {
    w = await createAccessWorld();
    groups.finance = w.target.groups.analysts;
    groups.lapse = `lapse_${w.target.tag}`;
    await w.targetGroup(groups.lapse);
    mia = await w.person('mia', { name: 'Mia Manager', department: 'Finance' });
    dana = await w.person('dana', { name: 'Dana Developer', department: 'Engineering', manager: mia });
    zed = await w.person('zed', { name: 'Zed Bystander', department: 'Sales' });
    owen = await w.person('owen', { name: 'Owen Owner', department: 'Data' });
    await w.group('finance-approvers', [mia]);
    const c = w.connector.name;
    await w.publish(`
apiVersion: gatehouse.dev/v1
kind: AccessPolicy
name: linking
targets:
  - connector: ${c}
    entitlements:
      - { id: ${groups.lapse}, owner: ${owen.email} }
rules:
  - id: finance-group-approves
    match: { kinds: [grant], entitlements: ["${c}:${groups.finance}"] }
    effect: require-approval
    approval:
      stages:
        - { name: Finance, approvers: [{ group: finance-approvers }], deadline: 1h }
  - id: owner-approves
    match: { kinds: [grant], entitlements: ["${c}:${groups.lapse}"] }
    effect: require-approval
    approval:
      stages:
        - { name: Owner, approvers: [{ entitlementOwner: true }], deadline: 1h }
`);
    await w.startWorker();

    // Directory B: another identity provider, with its own issuer and its own SCIM token.
    const b = await w.scim.directories.createDirectory(`partner-${w.target.tag}`, TEST_ADMIN, { signInIssuers: [PARTNER_ISSUER] });
    const token = await w.scim.directories.createToken(b.id, TEST_ADMIN);
    const actorB = { directoryId: b.id, tokenId: token.token.id };
    pushToB = async (body, type = 'User') =>
      String((await w.scim.service.create(actorB, type, { schemas: [`urn:ietf:params:scim:schemas:core:2.0:${type}`], ...body }, {})).body.id);
    // B pushes a user carrying Zed's, Owen's and Mia's e-mails, in a group named like the approver group.
    const shadow = await pushToB({ userName: `shadow-${w.target.tag}`, emails: [{ value: zed.email }, { value: owen.email }, { value: mia.email }] });
    await pushToB({ displayName: 'finance-approvers', members: [{ value: shadow }] }, 'Group');

    requests = createRequestService({ orm: w.orm, temporal: w.temporal.client, taskQueue: w.temporal.taskQueue, identities: createIdentityResolver({ orm: w.orm }), decisions: createDecisionSigner(w.vault.store) });
  });

  afterAll(async () => {
    await w?.close();
  });

  const gate = (changeId: string) => w.temporal.client.workflow.getHandle(approvalWorkflowId(changeId));
  const decideAs = async (changeId: string, p: Person, verdict: 'approve' | 'deny', reason: string) =>
    gate(changeId).executeUpdate(decideUpdate, { args: [await w.signedDecision(changeId, await w.claims(p), verdict, reason)] });
  const as = (p: Person) => ({ principal: p.principal, ability: adminAbilityFor(p.principal) });
  const refusalOf = async (attempt: Promise<unknown>) => {
    const err = await attempt.then(() => undefined, (e: unknown) => e);
    if (!(err instanceof GatehouseError)) throw new Error(`expected a refusal, got ${String(err)}`);
    return { code: err.code, field: err.field, message: err.message };
  };

  it("takes a person's keys and groups only from the directories that name their issuer", async () => {
    const claims = await w.claims(zed);
    expect(claims.groups).toEqual([]);
    expect(claims.identityKeys).toContain(zed.id);
    for (const k of [owen.email, mia.email, `shadow-${w.target.tag}`]) expect(claims.identityKeys).not.toContain(k);
    expect((await w.claims(mia)).groups).toEqual(['finance-approvers']);
  });

  /** Asks for Dana's grant, waits at the gate, and returns what the gate says to Zed's approval; the eligible approver then denies it. */
  const zedApproves = async (entitlement: string, eligible: Person) => {
    const change = w.change('grant', dana, { entitlement });
    await w.request(change);
    await w.waitForEntry(change.id, LEDGER_ACTIONS.requestOpened);
    const refusal = await updateRefusal(decideAs(change.id, zed, 'approve', 'B says so'));
    await decideAs(change.id, eligible, 'deny', 'not this quarter');
    return refusal;
  };

  it("B's group named like the approver group makes nobody eligible in A", async () => {
    expect(await zedApproves(groups.finance, mia)).toMatch(/not an approver for stage "Finance"/);
  });

  it("B's identity carrying the owner's e-mail makes nobody the entitlement owner", async () => {
    expect(await zedApproves(groups.lapse, owen)).toMatch(/not an approver for stage "Owner"/);
  });

  it('asks for access "for self" as the identity in A, never one B chose; without a linked identity, refuses and says why', async () => {
    const created = await requests.create(as(zed), { for: 'self', connector: w.connector.name, kind: 'create-account', accountName: `zed_${w.target.tag}`, justification: 'my login' });
    const [row] = await w.orm.em.fork().getConnection().execute<{ subject_id: string }[]>('SELECT subject_id FROM access_change WHERE id = ?', [created.id]);
    expect(row?.subject_id).toBe(zed.id);

    // Pat exists only in B, and signs in through Acme's issuer: linked to nothing.
    await pushToB({ userName: `pat-${w.target.tag}`, emails: [{ value: `pat@acme-${w.target.tag}.test` }] });
    const pat = await w.signIn(`pat@acme-${w.target.tag}.test`, 'Pat Partner');
    expect(await refusalOf(requests.create(as(pat), { for: 'self', connector: w.connector.name, kind: 'create-account', accountName: 'pat', justification: 'x' }))).toMatchObject({
      code: 'invalid_request',
      field: 'for',
    });
  });

  it('refuses an ambiguous link: two active identities claiming one person link none', async () => {
    await w.person('zed-again', { name: 'Zed Twin', department: 'Sales', noSignIn: true, emails: [zed.email] });
    const claims = await w.claims(zed);
    expect(claims.identityKeys).not.toContain(zed.id);
    const refused = await refusalOf(requests.create(as(zed), { for: 'self', connector: w.connector.name, kind: 'create-account', accountName: 'zed2', justification: 'x' }));
    expect(refused).toMatchObject({ code: 'conflict', field: 'for', message: expect.stringMatching(/2 active identities claim your e-mail .* links you to none of them/) });
  });
});
