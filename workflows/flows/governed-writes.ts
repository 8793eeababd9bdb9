// Flow writes that change access. A record written to a connector's memberships (`{ subject,
// entitlement }`) is not written by the flow: it becomes a grant, an AccessChange of its own with a
// deterministic id, started as its own workflow (`flow-change:<id>`) to be decided, approved where
// policy says, and applied to the subject's own account on record, each step on the ledger. What
// cannot become a change (no such identity, no account on the connector, a malformed record) is
// refused with the reason, which never repeats a value from the record (it may be pii), and goes to
// the dead letters like any refused record. A membership Gatehouse already records is unchanged.
import { createHash } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { AccessChangeInput } from '../../policies/access-change.js';
import { MEMBERSHIPS_CLASS, type ObjectRecord } from '../../connectors/spi/records.js';
import { flowChangeWorkflow, flowChangeWorkflowId } from './workflow.js';

/** Starts a proposed change's own workflow; starting one already started is not an error. */
export type ChangeStarter = (change: AccessChangeInput) => Promise<void>;

/** Starts each change as `flow-change:<change id>`, once ever: a change id names one change. */
export function temporalChangeStarter(client: Client, taskQueue: string): ChangeStarter {
  return async (change) => {
    try {
      await client.workflow.start(flowChangeWorkflow, {
        workflowId: flowChangeWorkflowId(change.id),
        taskQueue,
        args: [change],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        searchAttributes: { GatehouseKind: ['sync'], GatehouseSubject: [`change:${change.id}`] },
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  };
}

export interface ProposedChange {
  change: AccessChangeInput;
  recordKey: string;
}

export interface MembershipPlan<T> {
  proposed: (ProposedChange & { item: T })[];
  /** Held already, on Gatehouse's record. */
  unchanged: T[];
  refused: { item: T; error: string }[];
}

interface IdentityRow {
  id: string;
  directory_id: string;
  user_name: string;
  external_id: string | null;
  active: boolean;
}

/** A UUID (version 5 layout) from a SHA-256: the same record read from the same cursor proposes the same change. */
function changeIdOf(parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function createGovernedWrites(deps: { orm: MikroORM }) {
  const sql = () => deps.orm.em.getConnection();

  /** Directory identities an id, userName (any case) or externalId names, in every directory. */
  async function identitiesNamed(refs: string[]): Promise<Map<string, IdentityRow[]>> {
    const byRef = new Map<string, IdentityRow[]>(refs.map((r) => [r, []]));
    if (!refs.length) return byRef;
    const rows = await sql().execute<IdentityRow[]>(
      `SELECT u.id, u.directory_id, u.user_name, u.external_id, coalesce((u.resource ->> 'active')::boolean, true) AS active
         FROM scim_user u
        WHERE u.id::text IN (SELECT jsonb_array_elements_text(?::jsonb))
           OR lower(u.user_name) IN (SELECT lower(r) FROM jsonb_array_elements_text(?::jsonb) r)
           OR u.external_id IN (SELECT jsonb_array_elements_text(?::jsonb))`,
      [JSON.stringify(refs.map((r) => r.toLowerCase())), JSON.stringify(refs), JSON.stringify(refs)],
    );
    for (const ref of refs) {
      const lower = ref.toLowerCase();
      byRef.set(
        ref,
        rows.filter((r) => r.id === lower || r.user_name.toLowerCase() === lower || r.external_id === ref),
      );
    }
    return byRef;
  }

  return {
    /**
     * The grants a page of mapped memberships records asks for. Nothing is started here: the caller
     * starts the proposed changes (or, for a preview, only shows them).
     */
    async planMemberships<T extends { mapped: ObjectRecord; recordKey: string }>(input: {
      flowName: string;
      versionHash: string;
      /** The cursor the page was read from: part of each change's id, so a page read again proposes the same changes. */
      from: string | null;
      connector: { id: string; name: string };
      source: string;
      items: T[];
    }): Promise<MembershipPlan<T>> {
      const plan: MembershipPlan<T> = { proposed: [], unchanged: [], refused: [] };
      const wanted: { item: T; subject: string; entitlement: string }[] = [];
      for (const item of input.items) {
        const extra = Object.keys(item.mapped).filter((f) => f !== 'subject' && f !== 'entitlement');
        const { subject, entitlement } = item.mapped;
        if (extra.length) plan.refused.push({ item, error: `mapping: a ${MEMBERSHIPS_CLASS} record has the fields subject and entitlement only; this one also has ${extra.slice(0, 5).join(', ')}` });
        else if (typeof subject !== 'string' || !subject.trim()) plan.refused.push({ item, error: `mapping: a ${MEMBERSHIPS_CLASS} record needs subject, the identity's id, userName or externalId, as text` });
        else if (typeof entitlement !== 'string' || !entitlement.trim() || entitlement.length > 512) plan.refused.push({ item, error: `mapping: a ${MEMBERSHIPS_CLASS} record needs entitlement, the entitlement's id on ${input.connector.name} as policies name it (at most 512 characters)` });
        else wanted.push({ item, subject: subject.trim(), entitlement: entitlement.trim() });
      }
      const identities = await identitiesNamed([...new Set(wanted.map((w) => w.subject))]);
      const resolved: { item: T; identity: IdentityRow; entitlement: string }[] = [];
      for (const w of wanted) {
        const found = identities.get(w.subject) ?? [];
        // The subject's value is not repeated: it may be an e-mail, and refusals are shown to people.
        if (!found.length) plan.refused.push({ item: w.item, error: 'subject: no identity in Gatehouse\'s directories has this id, userName or externalId' });
        else if (found.length > 1) plan.refused.push({ item: w.item, error: `subject: names ${found.length} identities (in different directories); use the identity's id` });
        else if (!found[0]!.active) plan.refused.push({ item: w.item, error: 'subject: the identity is not active, and a flow grants nothing to an inactive identity' });
        else resolved.push({ item: w.item, identity: found[0]!, entitlement: w.entitlement });
      }
      if (!resolved.length) return plan;

      const subjects = JSON.stringify([...new Set(resolved.map((r) => r.identity.id))]);
      const accounts = await sql().execute<{ subject_id: string }[]>(
        'SELECT DISTINCT subject_id FROM identity_account WHERE connector_id = ? AND subject_id IN (SELECT jsonb_array_elements_text(?::jsonb))',
        [input.connector.id, subjects],
      );
      const held = await sql().execute<{ subject_id: string; entitlement_id: string }[]>(
        'SELECT subject_id, entitlement_id FROM identity_entitlement WHERE connector_id = ? AND subject_id IN (SELECT jsonb_array_elements_text(?::jsonb))',
        [input.connector.id, subjects],
      );
      const withAccount = new Set(accounts.map((a) => a.subject_id));
      const holding = new Set(held.map((h) => `${h.subject_id}\u0000${h.entitlement_id}`));
      for (const r of resolved) {
        if (!withAccount.has(r.identity.id)) {
          plan.refused.push({ item: r.item, error: `subject: the identity holds no account on ${input.connector.name} on Gatehouse's record; its account comes first (a joiner, or a request)` });
          continue;
        }
        if (holding.has(`${r.identity.id}\u0000${r.entitlement}`)) {
          plan.unchanged.push(r.item);
          continue;
        }
        const change: AccessChangeInput = {
          id: changeIdOf(['flow-change', input.flowName, input.versionHash, input.from ?? '', r.item.recordKey, r.identity.id, r.entitlement]),
          kind: 'grant',
          // The decide step takes the identity's type and attributes from its directory, whatever is given here.
          subject: { type: 'human', id: r.identity.id, directoryId: r.identity.directory_id },
          target: { connectorId: input.connector.id, entitlement: { id: r.entitlement } },
          source: 'sync',
          requester: { kind: 'workflow', id: `flow:${input.flowName}` },
          justification: `sync flow ${input.flowName} (version ${input.versionHash.slice(0, 12)}): a ${MEMBERSHIPS_CLASS} record read from ${input.source}`,
        };
        plan.proposed.push({ item: r.item, recordKey: r.item.recordKey, change });
      }
      return plan;
    },
  };
}

export type GovernedWrites = ReturnType<typeof createGovernedWrites>;
