// A sync flow as its author writes it: YAML (or JSON), validated here, versioned by the SHA-256 of
// its RFC 8785 canonical JSON (formatting and comments never change a version), as policy is.
// A flow reads an object class of one connector, keeps the records its filter accepts, maps each
// with JSONata, applies the field rules, and writes the result to an object class of another.
//
// Field rules run on the mapped record before anything else sees it (the target, logs, the ledger,
// dead letters): `drop` removes the field, `hash` replaces it with a keyed hash (same input, same
// output, so it still joins), `mask` keeps its last four characters, `pass` keeps it. A field
// classified `secret` may only be dropped; one classified `pii` needs a rule said out loud.
import { CronExpressionParser } from 'cron-parser';
import ms from 'ms';
import { z } from 'zod';
import { compileExpression } from '../../connectors/http/jsonata-expression.js';
import { MEMBERSHIPS_CLASS } from '../../connectors/spi/records.js';
import { documentVersionHash, parseVersionedDocument } from '../../shared/versioned-document.js';

const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes (at most 63)');
const connectorName = z.string().min(1, 'must name a connector instance').max(200);
const objectClass = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be an object class name (lower case letters, digits, _ and -)');
const expression = z.string().min(1, 'must not be empty').max(20_000, 'must be at most 20,000 characters');

export const FIELD_CLASSIFICATIONS = ['public', 'internal', 'pii', 'secret'] as const;
export const FIELD_RULES = ['pass', 'drop', 'hash', 'mask'] as const;

const fieldRuleSchema = z
  .strictObject({
    classification: z.enum(FIELD_CLASSIFICATIONS),
    rule: z.enum(FIELD_RULES).optional().describe('default: pass for public and internal, drop for secret; pii must say'),
  })
  .superRefine((f, ctx) => {
    if (f.classification === 'secret' && f.rule && f.rule !== 'drop') ctx.addIssue({ code: 'custom', path: ['rule'], message: 'a secret field may only be dropped' });
    if (f.classification === 'pii' && !f.rule) ctx.addIssue({ code: 'custom', path: ['rule'], message: 'a pii field needs its rule said: pass, drop, hash or mask' });
  })
  .transform((f) => ({ classification: f.classification, rule: f.rule ?? (f.classification === 'secret' ? 'drop' : 'pass') }));
export type FieldRule = z.output<typeof fieldRuleSchema>;

/** upsert: create or update by key; create-only: never change a record that exists. (Mirroring deletes comes with snapshot diffs.) */
/** upsert: create and update by key; create-only: leave existing records alone; mirror: also delete what a snapshot source no longer has. */
export const TARGET_OPERATIONS = ['upsert', 'create-only', 'mirror'] as const;

export const flowDocumentSchema = z.strictObject({
  apiVersion: z.literal('gatehouse.dev/v1', { error: 'must be gatehouse.dev/v1' }),
  kind: z.literal('Flow', { error: 'must be Flow' }),
  name,
  description: z.string().max(2000).optional(),
  source: z.strictObject({
    connector: connectorName,
    objectClass,
    pageSize: z.number().int().min(1).max(5000).default(500),
  }),
  /** How runs start: by a person or a token with run:Flow (manual), or also on a schedule, or also by a webhook call. */
  trigger: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('manual') }),
      z.strictObject({
        type: z.literal('schedule'),
        /** Five fields: minute hour day-of-month month day-of-week, e.g. "*\/15 * * * *". */
        cron: z.string().max(200).superRefine((cron, ctx) => {
          if (cron.trim().split(/\s+/).length !== 5) return void ctx.addIssue({ code: 'custom', message: 'must have five fields: minute hour day-of-month month day-of-week' });
          try {
            CronExpressionParser.parse(cron);
          } catch (err) {
            ctx.addIssue({ code: 'custom', message: `is not a valid cron expression (${(err as Error).message})` });
          }
        }),
        /** An IANA time zone the cron is read in (default UTC). */
        timezone: z.string().max(64).refine((tz) => Intl.supportedValuesOf('timeZone').includes(tz) || tz === 'UTC', 'must be an IANA time zone such as Europe/Paris').default('UTC'),
      }),
      z.strictObject({
        type: z.literal('webhook'),
        /** How a call proves it knows the flow's webhook secret: signing (hmac, the default) or sending it (token). */
        auth: z.enum(['hmac', 'token']).default('hmac'),
      }),
    ], { error: 'must be { type: manual }, { type: schedule, cron: "<five fields>" } or { type: webhook } (identity events come later)' })
    .default({ type: 'manual' }),
  /** JSONata over the source record (as `$`): records it is false for are skipped. */
  filter: expression.optional(),
  /** JSONata over the source record (as `$`): the target record, an object. Without one, the record as read. */
  mapping: expression.optional(),
  /** Rules for the mapped record's fields; a field without one passes as it is. */
  fields: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/, 'must be a field name'), fieldRuleSchema).default({}),
  target: z.strictObject({
    connector: connectorName,
    objectClass,
    operation: z.enum(TARGET_OPERATIONS).default('upsert'),
  }),
  /**
   * A run's plan: before writing, a run of a flow with a plan (and of every flow that writes
   * memberships) works out what it would do with the records after the cursor, up to maxRecords, and
   * waits for a person to approve it when `approval` is `always` or the plan passes a threshold.
   * The approved plan is checked again right before writing; if the live diff has drifted from it,
   * the run waits for approval of the new plan. Runs write only what the plan covered.
   */
  plan: z
    .strictObject({
      approval: z.enum(['always', 'threshold']).default('threshold'),
      /** Access changes (grants) a run may hand to the gate without its plan approved. */
      maxAccessChanges: z.number().int().min(0).max(1_000_000).default(100),
      /** Records a mirror run may delete without its plan approved. */
      maxDeletes: z.number().int().min(0).max(100_000_000).default(10),
      /** Records a run may create or update without its plan approved (no limit when absent). */
      maxWrites: z.number().int().min(0).max(100_000_000).optional(),
      /** Records one plan covers; what comes after them is the next run's. */
      maxRecords: z.number().int().min(1).max(100_000).default(10_000),
      /** How long a plan waits for a decision before the run fails as not approved. */
      deadline: z
        .string()
        .refine((v) => {
          const n = ms(v as ms.StringValue);
          return typeof n === 'number' && Number.isFinite(n) && n >= 1000 && n <= 30 * 24 * 3600 * 1000;
        }, 'must be a duration such as 30m, 24h or 7d (between 1 second and 30 days)')
        .default('24h'),
    })
    .optional(),
  errors: z
    .strictObject({
      /** Attempts at a failing batch before its records are tried one by one and the failing ones set aside. */
      retries: z.number().int().min(0).max(10).default(3),
    })
    .default({ retries: 3 }),
}).superRefine((doc, ctx) => {
  if (doc.target.objectClass === MEMBERSHIPS_CLASS && doc.target.operation === 'mirror') {
    ctx.addIssue({ code: 'custom', path: ['target', 'operation'], message: `mirror of ${MEMBERSHIPS_CLASS} (revoking through the access gate what the source no longer lists) is not built yet; use upsert` });
  }
});
export type FlowDocument = z.output<typeof flowDocumentSchema>;
export type FlowPlanRules = NonNullable<FlowDocument['plan']>;

/** The plan rules a run follows: the flow's own, or for a flow that writes memberships or mirrors and says none, the defaults. */
export function planRulesOf(doc: FlowDocument): FlowPlanRules | undefined {
  if (doc.plan) return doc.plan;
  if (doc.target.objectClass === MEMBERSHIPS_CLASS || doc.target.operation === 'mirror') return { approval: 'threshold', maxAccessChanges: 100, maxDeletes: 10, maxRecords: 10_000, deadline: '24h' };
  return undefined;
}

/** Parses and checks a flow (YAML or JSON) and compiles its expressions; a problem names its path in the document. */
export function parseFlowDocument(text: string): FlowDocument {
  const doc = parseVersionedDocument(text, flowDocumentSchema);
  if (doc.filter) compileExpression(doc.filter, 'filter');
  if (doc.mapping) compileExpression(doc.mapping, 'mapping');
  return doc;
}

/** SHA-256 (hex) of the document's canonical JSON (RFC 8785). */
export const flowVersionHash = (doc: FlowDocument): string => documentVersionHash(doc);
