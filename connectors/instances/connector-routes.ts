// The connector API, as data: connector types and their configuration schemas, offline validation,
// and instances (list, show, create, change, delete, probe). Reading needs read:Connector;
// anything that changes an instance or reaches its target needs manage:Connector. Responses say
// which secret fields are set and never carry a secret value. Creating, changing and deleting an
// instance are admin changes (changeConnectors): held for approval where the policy in force says so.
import { z } from 'zod';
import type { LedgerAppender } from '../../audit/index.js';
import { defineRoute, heldForApproval, type ApiRoute, errorBody } from '../../shared/http/api-route.js';
import { callerOf } from '../caller.js';
import { CAPABILITIES } from '../spi/connector.js';
import type { ConnectorInstanceService } from './connector-instance-service.js';
import { connectorTypeView, connectorView, createConnectorInput, updateConnectorInput } from './connector-instance-types.js';
import { probeOutcome, type RunProbe } from './connector-probe.js';

export interface ConnectorRouteDeps {
  service: ConnectorInstanceService;
  probe: RunProbe;
  /** Records each probe: it reaches the target with the connector's credentials. */
  ledger: LedgerAppender;
}

const READ = { action: 'read', subject: 'Connector' } as const;
const MANAGE = { action: 'manage', subject: 'Connector' } as const;
const TAGS = ['connectors'];

const refParams = z.object({ ref: z.string().min(1).max(100).describe('The connector id or name') });
const typeParams = z.object({ type: z.string().min(1).max(100) });

export function connectorRoutes(deps: ConnectorRouteDeps): ApiRoute[] {
  const { service } = deps;
  return [
    defineRoute({
      method: 'get',
      path: '/api/connector-types',
      summary: 'Connector types, with what they can do and their configuration schemas (secret fields marked)',
      tags: TAGS,
      access: READ,
      responses: { 200: { description: 'the types', schema: z.object({ types: z.array(connectorTypeView) }) } },
      handler: (req, res) => {
        res.json({ types: service.types(callerOf(req)) });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/connector-types/:type/validate',
      summary: 'Validate a configuration offline (nothing is stored, the target is not contacted)',
      tags: TAGS,
      access: READ,
      request: { params: typeParams, body: z.object({ config: z.record(z.string(), z.unknown()) }).strict() },
      responses: {
        200: { description: 'the configuration is valid', schema: z.object({ valid: z.literal(true), type: z.string(), capabilities: z.array(z.enum(CAPABILITIES)) }) },
        400: { description: 'invalid; the error names the field', schema: errorBody },
      },
      handler: (req, res) => {
        const { type } = req.params as z.infer<typeof typeParams>;
        res.json({ valid: true, ...service.validate(type, (req.body as { config: unknown }).config, callerOf(req)) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/connectors',
      summary: 'Connector instances',
      tags: TAGS,
      access: READ,
      responses: { 200: { description: 'the instances', schema: z.object({ connectors: z.array(connectorView) }) } },
      handler: async (req, res) => {
        res.json({ connectors: await service.list(callerOf(req)) });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/connectors',
      summary: 'Configure a connector instance; its secret fields go to Vault',
      tags: TAGS,
      access: MANAGE,
      governedAs: 'changeConnectors',
      governedView: async (req) => {
        const body = req.body as z.infer<typeof createConnectorInput>;
        return { ...body, config: await service.withoutSecretValues({ type: body.type }, body.config) };
      },
      request: { body: createConnectorInput },
      responses: {
        201: { description: 'created', schema: connectorView },
        202: heldForApproval('creating connectors'),
        400: { description: 'the configuration fails its schema; the error names the field', schema: errorBody },
        409: { description: 'the name is taken', schema: errorBody },
        503: { description: 'Vault is unavailable; nothing was stored', schema: errorBody },
      },
      handler: async (req, res) => {
        const created = await service.create(req.body as z.infer<typeof createConnectorInput>, callerOf(req));
        res.status(201).location(`/api/connectors/${created.id}`).json(created);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/connectors/:ref',
      summary: 'One connector instance',
      tags: TAGS,
      access: READ,
      request: { params: refParams },
      responses: { 200: { description: 'the instance', schema: connectorView }, 404: { description: 'no such connector', schema: errorBody } },
      handler: async (req, res) => {
        res.json(await service.get((req.params as z.infer<typeof refParams>).ref, callerOf(req)));
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/api/connectors/:ref',
      summary: 'Change settings (a merge patch) or replace the secrets (as a set)',
      tags: TAGS,
      access: MANAGE,
      governedAs: 'changeConnectors',
      governedView: async (req) => {
        const body = req.body as z.infer<typeof updateConnectorInput>;
        return { ...body, config: await service.withoutSecretValues({ ref: (req.params as z.infer<typeof refParams>).ref }, body.config) };
      },
      request: { params: refParams, body: updateConnectorInput },
      responses: {
        200: { description: 'changed', schema: connectorView },
        202: heldForApproval('changing connectors'),
        400: { description: 'invalid; the error names the field', schema: errorBody },
        404: { description: 'no such connector', schema: errorBody },
        409: { description: 'changed concurrently (revision or Vault version)', schema: errorBody },
      },
      handler: async (req, res) => {
        res.json(await service.update((req.params as z.infer<typeof refParams>).ref, req.body as z.infer<typeof updateConnectorInput>, callerOf(req)));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/connectors/:ref',
      summary: 'Delete a connector instance and destroy its secrets in Vault',
      tags: TAGS,
      access: MANAGE,
      governedAs: 'changeConnectors',
      request: { params: refParams },
      responses: {
        204: { description: 'deleted' },
        202: heldForApproval('deleting connectors'),
        404: { description: 'no such connector', schema: errorBody },
        409: { description: 'the admin change named in gatehouse-admin-change is not approved, was already made, or is for another call', schema: errorBody },
      },
      handler: async (req, res) => {
        await service.remove((req.params as z.infer<typeof refParams>).ref, callerOf(req));
        res.status(204).end();
      },
    }),
    defineRoute({
      method: 'post',
      path: '/api/connectors/:ref/test',
      summary: "Probe the target live, from a worker (the secrets are read there, never here); a refusal is the probe's result",
      tags: TAGS,
      access: MANAGE,
      request: { params: refParams },
      responses: {
        200: { description: 'the outcome of the probe', schema: z.object({ connector: z.string(), workflowId: z.string(), outcome: probeOutcome }) },
        404: { description: 'no such connector', schema: errorBody },
        503: { description: 'no worker ran the probe in time', schema: errorBody },
      },
      handler: async (req, res) => {
        const caller = callerOf(req);
        const instance = await service.get((req.params as z.infer<typeof refParams>).ref, caller);
        const { workflowId, outcome } = await deps.probe(instance.id);
        await deps.ledger.append({
          action: 'connector.tested',
          actor: caller.actor,
          subject: { type: 'connector', id: instance.id, display: instance.name },
          details: outcome.ok ? { ok: true, system: outcome.probe.system } : { ok: false, code: outcome.error.code },
          correlation: { workflowId },
        });
        res.json({ connector: instance.name, workflowId, outcome });
      },
    }),
  ];
}
