// The NHI and credential inventory as the API and the exports show it: one item per credential or
// non-human identity, with its owners, ages, use, entitlements, consumers and findings.
import { z } from 'zod';
import { credentialConsumer, lastRotation } from './credential-types.js';

export const FINDINGS = ['no-owner', 'owner-inactive', 'owner-gone', 'over-max-age', 'privileged', 'unused', 'shared'] as const;
export type Finding = (typeof FINDINGS)[number];

/** What each finding means, for the UI, the CSV and the OpenAPI document. */
export const FINDING_DESCRIPTIONS: Record<Finding, string> = {
  'no-owner': 'nobody active owns it (never assigned, its owners left or were deactivated, or the last owner left with no manager to take over)',
  'owner-inactive': 'an owner is deactivated in their directory',
  'owner-gone': 'an owner was deleted from their directory',
  'over-max-age': 'the credential in use is older than its max-age policy',
  privileged: 'it holds administrative power on its system',
  unused: 'not used within the unused window, or never used, where the system tells',
  shared: 'several consumers use it',
};

export const ITEM_SOURCES = ['managed', 'discovered', 'vault'] as const;
export const ITEM_KINDS = ['connector-login', 'service-account', 'account', 'secret'] as const;

export const ownerView = z.object({
  directoryId: z.string(),
  userId: z.string(),
  userName: z.string().nullable(),
  displayName: z.string().nullable(),
  /** active: in the directory and active; inactive: deactivated; gone: deleted from the directory. */
  status: z.enum(['active', 'inactive', 'gone']),
});
export type OwnerView = z.infer<typeof ownerView>;

export const inventoryItem = z.object({
  /** The credential's id; `discovered:<connectorId>:<uid>` or `vault:<path>` for what was only discovered. */
  id: z.string(),
  source: z.enum(ITEM_SOURCES),
  kind: z.enum(ITEM_KINDS),
  name: z.string(),
  description: z.string().nullable(),
  connector: z.object({ id: z.string(), name: z.string(), type: z.string() }).nullable(),
  account: z.object({ uid: z.string().nullable(), name: z.string().nullable(), enabled: z.boolean().nullable() }).nullable(),
  owners: z.array(ownerView),
  /** True when some owner is active; null when there is no owner. */
  ownerActive: z.boolean().nullable(),
  createdAt: z.string().nullable(),
  /** When the credential in use was set (its Vault version's time, or the system's word). */
  lastRotatedAt: z.string().nullable(),
  /** Where the system tells (the target's last login; Gatehouse's own last use of a connector login). */
  lastUsedAt: z.string().nullable(),
  ageDays: z.number().nullable(),
  maxAgeDays: z.number().nullable(),
  entitlements: z.array(z.object({ uid: z.string(), name: z.string(), privileged: z.boolean() })),
  privileged: z.boolean(),
  /** Connectors, workflows and applications that use it. */
  usedBy: z.array(credentialConsumer),
  findings: z.array(z.enum(FINDINGS)),
  vault: z.object({ path: z.string(), field: z.string().nullable(), version: z.number().nullable() }).nullable(),
  rotation: z
    .object({
      /** The connector can rotate it (its type implements rotateCredential). */
      rotatable: z.boolean(),
      inProgress: z.string().nullable(),
      last: lastRotation.nullable(),
      /** The Temporal Schedule that rotates it, from its max-age policy. */
      scheduleId: z.string().nullable(),
    })
    .nullable(),
  /** You may ask to rotate it (you own it, or you rotate credentials). */
  canRotate: z.boolean(),
  revision: z.number().nullable(),
});
export type InventoryItem = z.infer<typeof inventoryItem>;

const csvList = (values: readonly string[]) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return undefined;
      const parts = v.split(',').map((p) => p.trim());
      for (const p of parts) {
        if (!values.includes(p)) {
          ctx.addIssue({ code: 'custom', message: `${JSON.stringify(p)} is not one of ${values.join(', ')}` });
          return z.NEVER;
        }
      }
      return parts;
    });

/** Filters of GET /api/inventory/credentials (and its export); lists are comma-separated. */
export const inventoryQuery = z
  .object({
    finding: csvList(FINDINGS),
    source: csvList(ITEM_SOURCES),
    kind: csvList(ITEM_KINDS),
    /** Connector id or name. */
    connector: z.string().min(1).max(100).optional(),
    /** Only what this person owns: `<directoryId>/<userId>`. */
    owner: z
      .string()
      .regex(/^[0-9a-f-]{36}\/[0-9a-f-]{36}$/i, 'must be <directoryId>/<userId>')
      .optional(),
    /** Case-insensitive substring of the name, account or connector. */
    q: z.string().max(200).optional(),
    /** Include accounts matched to people (human accounts); by default only non-human identities are listed. */
    includeHumans: z.enum(['true', 'false']).optional().transform((v) => v === 'true'),
  })
  .strict();
export type InventoryQuery = z.output<typeof inventoryQuery>;
