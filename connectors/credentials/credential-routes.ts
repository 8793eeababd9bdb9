// The credential and inventory API, as data. Reading the inventory needs read:Credential (nhi-owners
// see what they own; the service checks each item); registering and changing managed credentials
// needs create/update/delete:Credential; asking for a rotation needs rotate:Credential on that
// credential. Nothing here ever returns a secret value.
import { z } from 'zod';
import type { Actor } from '../../audit/index.js';
import { defineRoute, type ApiRoute, errorBody } from '../../shared/http/api-route.js';
import { callerOf } from '../caller.js';
import type { CredentialService } from './credential-service.js';
import { registerCredentialInput, rotateCredentialInput, updateCredentialInput } from './credential-types.js';
import type { InventoryService } from './inventory-service.js';
import { FINDING_DESCRIPTIONS, FINDINGS, inventoryItem, inventoryQuery } from './inventory-types.js';

export interface CredentialRouteDeps {
  credentials: CredentialService;
  inventory: InventoryService;
  /** Starts an inventory scan now (one at a time), as `actor`. */
  startScan(actor: Actor): Promise<{ workflowId: string; started: boolean }>;
}

const TAGS = ['credentials'];
const idParams = z.object({ id: z.string().min(1).max(600).describe('The credential id (or name); inventory items also by their listed id') });
const rotationStarted = z.object({ workflowId: z.string(), started: z.boolean().describe('false: a rotation of it was already running, and this request joined it') });
const exportQuery = inventoryQuery.extend({ format: z.enum(['csv', 'json']).default('csv') });

export function credentialRoutes(deps: CredentialRouteDeps): ApiRoute[] {
  const { credentials, inventory } = deps;
  return [
    defineRoute({
      method: 'get',
      path: '/api/inventory/credentials',
      summary: 'The NHI and credential inventory: managed credentials, discovered non-human accounts and unreferenced secrets, with findings',
      tags: TAGS,
      access: { action: 'read', subject: 'Credential' },
      request: { query: inventoryQuery },
      responses: {
        200: {
          description: 'the items you may see, filtered',
          schema: z.object({ generatedAt: z.string(), findings: z.record(z.enum(FINDINGS), z.string()), items: z.array(inventoryItem) }),
        },
        400: { description: 'a filter is not valid; the error names it', schema: errorBody },
      },
      handler: async (req, res) => {
        const items = await inventory.list(req.query as unknown as z.output<typeof inventoryQuery>, callerOf(req));
        res.json({ generatedAt: new Date().toISOString(), findings: FINDING_DESCRIPTIONS, items });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/inventory/credentials/export',
      summary: 'The inventory as a file to download: CSV (default) or JSON, with the same filters',
      tags: TAGS,
      access: { action: 'read', subject: 'Credential' },
      request: { query: exportQuery },
      responses: {
        200: { description: 'the file', contentType: 'text/csv' },
        400: { description: 'a filter is not valid; the error names it', schema: errorBody },
      },
      handler: async (req, res) => {
        const { format, ...query } = req.query as unknown as z.output<typeof exportQuery>;
        const file = await inventory.export(query, format, callerOf(req));
        res.status(200).type(file.contentType).attachment(file.filename).send(file.body);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/inventory/scan',
      summary: "Scan every connector's accounts and Vault's metadata now (it also runs on its schedule)",
      tags: TAGS,
      access: { action: 'update', subject: 'Credential' },
      responses: { 202: { description: 'the scan runs', schema: rotationStarted } },
      handler: async (req, res) => {
        res.status(202).json(await deps.startScan(callerOf(req).actor));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/credentials',
      summary: "Manage a service account's credential: its value goes to Vault once, and Gatehouse rotates it from then on",
      tags: TAGS,
      access: { action: 'create', subject: 'Credential' },
      request: { body: registerCredentialInput },
      responses: {
        201: { description: 'registered', schema: inventoryItem },
        400: { description: 'invalid; the error names the field', schema: errorBody },
        409: { description: 'the name, or a credential for that account, exists', schema: errorBody },
        503: { description: 'Vault is unavailable; nothing was stored', schema: errorBody },
      },
      handler: async (req, res) => {
        const caller = callerOf(req);
        const created = await credentials.register(req.body as z.input<typeof registerCredentialInput>, caller);
        res.status(201).location(`/api/credentials/${created.id}`).json(await inventory.item(created.id, caller));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/credentials/:id',
      summary: 'One credential or inventory item',
      tags: TAGS,
      access: { action: 'read', subject: 'Credential' },
      request: { params: idParams },
      responses: { 200: { description: 'the item', schema: inventoryItem }, 404: { description: 'none you may see', schema: errorBody } },
      handler: async (req, res) => {
        res.json(await inventory.item((req.params as z.infer<typeof idParams>).id, callerOf(req)));
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/api/credentials/:id',
      summary: 'Change owners, max age (and so the rotation schedule), consumers, description or the privileged mark',
      tags: TAGS,
      access: { action: 'update', subject: 'Credential' },
      request: { params: idParams, body: updateCredentialInput },
      responses: {
        200: { description: 'changed', schema: inventoryItem },
        400: { description: 'invalid; the error names the field', schema: errorBody },
        404: { description: 'no such credential', schema: errorBody },
        409: { description: 'changed concurrently (expectedRevision)', schema: errorBody },
      },
      handler: async (req, res) => {
        const caller = callerOf(req);
        const { id } = await credentials.update((req.params as z.infer<typeof idParams>).id, req.body as z.infer<typeof updateCredentialInput>, caller);
        res.json(await inventory.item(id, caller));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/credentials/:id',
      summary: "Stop managing a service account's credential and destroy its secret in Vault (connector logins go with their connector)",
      tags: TAGS,
      access: { action: 'delete', subject: 'Credential' },
      request: { params: idParams },
      responses: { 204: { description: 'deleted' }, 404: { description: 'no such credential', schema: errorBody }, 409: { description: 'a connector login, or being rotated', schema: errorBody } },
      handler: async (req, res) => {
        await credentials.remove((req.params as z.infer<typeof idParams>).id, callerOf(req));
        res.status(204).end();
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/credentials/:id/rotate',
      summary: 'Rotate now: the rotation runs as a workflow (decided by policy, every step in the ledger)',
      tags: TAGS,
      access: { action: 'rotate', subject: 'Credential' },
      request: { params: idParams, body: rotateCredentialInput },
      responses: {
        202: { description: 'the rotation runs (follow it in the inventory, or in Temporal by its workflow id)', schema: rotationStarted },
        403: { description: 'you may not rotate it (you do not own it)', schema: errorBody },
        404: { description: 'no such credential', schema: errorBody },
      },
      handler: async (req, res) => {
        res.status(202).json(await credentials.requestRotation((req.params as z.infer<typeof idParams>).id, req.body as z.infer<typeof rotateCredentialInput>, callerOf(req)));
      },
    }),
  ];
}
