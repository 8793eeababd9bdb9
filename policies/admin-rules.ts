// What an admin change needs under the policy in force (issue 12, item 8): the rule the policy's
// `administration` section names for the action, or Gatehouse's default for it. Pure.
import { toStage, type DecisionStage } from './decide.js';
import { DEFAULT_ADMIN_RULES, type AdminAction, type PolicyDocument } from './policy-document.js';

export interface AdminRequirement {
  effect: 'allow' | 'require-approval';
  /** Where the requirement comes from, for the record: `administration.publishPolicy`, or the default. */
  rule: string;
  /** The stages to pass, in order; empty when the effect is allow. */
  stages: DecisionStage[];
  /** Why, in words the proposer and the approvers can act on. */
  reason: string;
}

const WHAT: Record<AdminAction, string> = {
  publishPolicy: 'publishing access policy',
  createApiTokens: 'creating API tokens',
  createScimTokens: 'creating SCIM tokens for identity providers',
  changeConnectors: 'creating, changing and deleting connectors',
};

export function adminRequirement(policy: Pick<PolicyDocument, 'name' | 'administration'>, action: AdminAction): AdminRequirement {
  const named = policy.administration?.[action];
  const rule = named ? `administration.${action}` : `default:${action}`;
  const spec = named ?? DEFAULT_ADMIN_RULES[action];
  if (spec.effect === 'allow') {
    const why = named ? `policy ${policy.name} allows ${WHAT[action]} without approval (${rule})` : `${WHAT[action]} needs no approval: policy ${policy.name} says nothing under administration.${action}`;
    return { effect: 'allow', rule, stages: [], reason: why };
  }
  const stages = (spec.approval?.stages ?? []).map((s) => toStage(s, rule));
  const source = named
    ? `policy ${policy.name} requires approval for ${WHAT[action]} (${rule})`
    : `${WHAT[action]} needs a second admin's approval (policy ${policy.name} says nothing under administration.${action}, so Gatehouse's default applies)`;
  return { effect: 'require-approval', rule, stages, reason: `${source}: ${stages.map((s) => `"${s.name}"`).join(', then ')}` };
}
