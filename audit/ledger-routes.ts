// The ledger's API: public signing keys, the query for the UI and auditors, proofs against signed
// checkpoints, and evidence exports (a zip streamed to the caller, recorded as `export.created`).
import type { Request } from 'express';
import { z } from 'zod';
import { defineRoute, type ApiRoute } from '../shared/http/api-route.js';
import type { Principal } from '../shared/auth/permissions.js';
import { GatehouseError } from '../shared/errors.js';
import { ledgerEntrySchema, type Actor } from './ledger-types.js';
import { ledgerQuerySchema } from './ledger-query.js';
import { noteVerifierKey } from './checkpoint-note.js';
import type { Ledger } from './ledger-service.js';
import { exportRequestSchema, prepareEvidenceExport, type EvidenceExportDeps } from './evidence-export.js';
import { zipSink } from './evidence-sink.js';

const hex = z.string().regex(/^[0-9a-f]{64}$/);

const checkpointSchema = z.object({
  origin: z.string(),
  treeSize: z.number().int(),
  rootHash: hex,
  timestamp: z.string(),
  keyName: z.string(),
  keyVersion: z.number().int(),
  signature: z.string().describe('raw Ed25519 signature over body, base64'),
  body: z.string().describe('the signed text: origin, tree size, base64 root hash, time (C2SP tlog-checkpoint)'),
});

const keysSchema = z.object({
  keyName: z.string(),
  origin: z.string(),
  algorithm: z.literal('ed25519'),
  keys: z.array(
    z.object({
      version: z.number().int(),
      publicKey: z.string().describe('raw 32-byte Ed25519 public key, base64'),
      createdTime: z.string().optional(),
      noteVerifierKey: z.string().describe('the same key as a C2SP signed-note verifier key'),
    }),
  ),
});

const seqParam = z.object({ seq: z.coerce.number({ message: 'must be a sequence number' }).int('must be a whole number').min(0, 'must not be negative') });
const sizeOf = z.coerce.number({ message: 'must be a tree size' }).int('must be a whole number').min(1, 'must be at least 1');

const read = { action: 'read', subject: 'LedgerEntry' } as const;

/** Who the caller is, as the ledger records actors. Sign-in attaches the principal to the request. */
export function actorOfPrincipal(principal: Principal | undefined): Actor {
  if (!principal) throw new GatehouseError('unauthenticated', 'sign in first: an export is recorded under the name of whoever made it');
  const kind = principal.kind === 'token' ? 'nhi' : principal.kind === 'system' ? 'system' : 'human';
  return { kind, id: principal.id, ...(principal.displayName ?? principal.email ? { display: (principal.displayName ?? principal.email)! } : {}) };
}

export interface AuditRouteDeps {
  ledger: Ledger;
  exporter: EvidenceExportDeps;
  /** Finds the signed-in principal of a request (default: `req.principal`, where sign-in puts it). */
  principalOf?: (req: Request) => Principal | undefined;
}

export function auditRoutes(deps: AuditRouteDeps): ApiRoute[] {
  const { ledger } = deps;
  const principalOf = deps.principalOf ?? ((req: Request) => (req as Request & { principal?: Principal }).principal);
  return [
    defineRoute({
      method: 'get',
      path: '/api/audit/keys',
      summary: 'The public keys that sign ledger checkpoints and evidence manifests, every version',
      tags: ['audit'],
      access: 'public',
      responses: { 200: { description: 'the keys', schema: keysSchema } },
      handler: async (_req, res) => {
        const [keys, origin] = await Promise.all([ledger.publicKeys(), ledger.origin()]);
        res.json({
          keyName: deps.exporter.keyName ?? 'gatehouse-ledger',
          origin,
          algorithm: 'ed25519',
          keys: keys.map((k) => ({ ...k, noteVerifierKey: noteVerifierKey(origin, Buffer.from(k.publicKey, 'base64')) })),
        });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/audit/entries',
      summary: 'Ledger entries by time, actor, subject, target, action and correlation id, with cursor pagination',
      tags: ['audit'],
      access: read,
      request: { query: ledgerQuerySchema },
      responses: {
        200: { description: 'a page of entries', schema: z.object({ entries: z.array(ledgerEntrySchema), nextCursor: z.string().optional() }) },
        400: { description: 'a filter is malformed (the field is named)' },
      },
      handler: async (req, res) => {
        res.json(await ledger.query(req.query as unknown as z.infer<typeof ledgerQuerySchema>));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/audit/entries/:seq',
      summary: 'One ledger entry',
      tags: ['audit'],
      access: read,
      request: { params: seqParam },
      responses: { 200: { description: 'the entry', schema: ledgerEntrySchema }, 404: { description: 'no such entry' } },
      handler: async (req, res) => {
        res.json(await ledger.get((req.params as unknown as z.infer<typeof seqParam>).seq));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/audit/entries/:seq/inclusion-proof',
      summary: 'Proof (RFC 9162 §2.1.3) that an entry is in a signed checkpoint',
      tags: ['audit'],
      access: read,
      request: { params: seqParam, query: z.object({ treeSize: sizeOf.optional().describe('a checkpoint tree size; the latest when absent') }).strict() },
      responses: {
        200: {
          description: 'the proof and the checkpoint it is against',
          schema: z.object({ seq: z.number(), treeSize: z.number(), entryHash: hex, leafHash: hex, path: z.array(hex), checkpoint: checkpointSchema }),
        },
        400: { description: 'the checkpoint does not cover the entry' },
        404: { description: 'no such entry or checkpoint' },
      },
      handler: async (req, res) => {
        const { seq } = req.params as unknown as z.infer<typeof seqParam>;
        res.json(await ledger.proveInclusion(seq, (req.query as { treeSize?: number }).treeSize));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/audit/checkpoints',
      summary: 'Signed checkpoints (tree heads), oldest first',
      tags: ['audit'],
      access: read,
      request: {
        query: z
          .object({
            fromSize: z.coerce.number({ message: 'must be a tree size' }).int('must be a whole number').min(0, 'must not be negative').default(0),
            limit: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(100),
          })
          .strict(),
      },
      responses: { 200: { description: 'checkpoints', schema: z.object({ checkpoints: z.array(checkpointSchema) }) } },
      handler: async (req, res) => {
        const q = req.query as unknown as { fromSize: number; limit: number };
        res.json({ checkpoints: await ledger.checkpoints({ fromSize: q.fromSize, limit: q.limit }) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/audit/consistency-proof',
      summary: 'Proof (RFC 9162 §2.1.4) that one signed checkpoint is a prefix of a later one',
      tags: ['audit'],
      access: read,
      request: { query: z.object({ fromSize: sizeOf, toSize: sizeOf }).strict() },
      responses: {
        200: { description: 'the proof and both checkpoints', schema: z.object({ fromSize: z.number(), toSize: z.number(), path: z.array(hex), from: checkpointSchema, to: checkpointSchema }) },
        404: { description: 'no checkpoint at one of the sizes' },
      },
      handler: async (req, res) => {
        const q = req.query as unknown as { fromSize: number; toSize: number };
        res.json(await ledger.proveConsistency(q.fromSize, q.toSize));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/audit/exports',
      summary: 'An evidence export (zip) of a time or sequence range, verifiable offline; recorded in the ledger',
      tags: ['audit'],
      access: { action: 'export', subject: 'Evidence' },
      request: { body: exportRequestSchema },
      responses: {
        200: { description: 'the export, streamed', contentType: 'application/zip', schema: z.string().describe('a zip file') },
        400: { description: 'the range or format is malformed (the field is named)' },
        404: { description: 'no entries in the range' },
      },
      handler: async (req, res) => {
        const actor = actorOfPrincipal(principalOf(req));
        const prepared = await prepareEvidenceExport(deps.exporter, req.body as z.infer<typeof exportRequestSchema>);
        res.status(200);
        res.setHeader('Content-Type', 'application/zip');
        res.setHeader('Content-Disposition', `attachment; filename="gatehouse-evidence-${prepared.firstSeq}-${prepared.lastSeq}.zip"`);
        const requestId = (req as Request & { id?: string }).id;
        await prepared.write(zipSink(res), actor, requestId ? { requestId } : {});
      },
    }),
  ];
}
