// The discovery endpoints (RFC 7644 section 4): /ServiceProviderConfig, /ResourceTypes and /Schemas,
// generated from the same definitions that validation, filtering and PATCH use, so they cannot drift.
import {
  MSG_LIST,
  SCHEMA_RESOURCE_TYPE,
  SCHEMA_SCHEMA,
  SCHEMA_SPC,
  allSchemas,
  resourceTypes,
  type AttributeDef,
  type SchemaDef,
} from './scim-schema.js';
import { DEFAULT_MAX_LISTED_MEMBERS, type ScimLimits } from './scim-service.js';
import { MAX_VALUES_PER_ATTRIBUTE } from './scim-values.js';
import { MAX_MEMBERS_PER_PATCH } from './scim-patch.js';

/** Gatehouse's own limits beside the RFC's, as an extension of the ServiceProviderConfig. */
export const SCHEMA_GATEHOUSE_LIMITS = 'urn:gatehouse:params:scim:schemas:extension:limits:1.0:ServiceProviderConfig';

export interface DiscoveryOptions {
  baseUrl: string;
  limits: ScimLimits;
  bulk: { maxOperations: number; maxPayloadSize: number };
  documentationUri?: string;
}

function attributeDoc(a: AttributeDef): Record<string, unknown> {
  return {
    name: a.name,
    type: a.type,
    multiValued: a.multiValued,
    // Group members are rows, not values of the document: only other multi-valued attributes are capped.
    description: a.multiValued && a.name !== 'members' && a.mutability !== 'readOnly' ? `${a.description} At most ${MAX_VALUES_PER_ATTRIBUTE} values.` : a.description,
    required: a.required,
    caseExact: a.caseExact,
    mutability: a.mutability,
    returned: a.returned,
    uniqueness: a.uniqueness,
    ...(a.canonicalValues ? { canonicalValues: a.canonicalValues } : {}),
    ...(a.referenceTypes ? { referenceTypes: a.referenceTypes } : {}),
    ...(a.subAttributes ? { subAttributes: a.subAttributes.map(attributeDoc) } : {}),
  };
}

export function createDiscovery(options: DiscoveryOptions) {
  const { baseUrl } = options;

  const serviceProviderConfig = {
    schemas: [SCHEMA_SPC, SCHEMA_GATEHOUSE_LIMITS],
    ...(options.documentationUri ? { documentationUri: options.documentationUri } : {}),
    patch: { supported: true },
    bulk: { supported: true, maxOperations: options.bulk.maxOperations, maxPayloadSize: options.bulk.maxPayloadSize },
    filter: { supported: true, maxResults: options.limits.maxResults },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Directory bearer token',
        description: 'A token issued for one directory by `gatehouse directory token create` or the API, sent as "Authorization: Bearer <token>".',
        primary: true,
      },
    ],
    [SCHEMA_GATEHOUSE_LIMITS]: {
      maxValuesPerAttribute: MAX_VALUES_PER_ATTRIBUTE,
      maxMembersPerPatch: MAX_MEMBERS_PER_PATCH,
      maxPatchOperations: options.limits.maxPatchOperations,
      maxListedMembers: options.limits.maxListedMembers ?? DEFAULT_MAX_LISTED_MEMBERS,
    },
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };

  const resourceTypeDocs = resourceTypes.map((rt) => ({
    schemas: [SCHEMA_RESOURCE_TYPE],
    id: rt.name,
    name: rt.name,
    endpoint: rt.endpoint,
    description: rt.description,
    schema: rt.schema.id,
    schemaExtensions: rt.extensions.map((e) => ({ schema: e.schema.id, required: e.required })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${rt.name}` },
  }));

  const schemaDoc = (s: SchemaDef) => ({
    schemas: [SCHEMA_SCHEMA],
    id: s.id,
    name: s.name,
    description: s.description,
    attributes: s.attributes.map(attributeDoc),
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${s.id}` },
  });
  const schemaDocs = allSchemas.map(schemaDoc);

  const list = (resources: unknown[]) => ({ schemas: [MSG_LIST], totalResults: resources.length, startIndex: 1, itemsPerPage: resources.length, Resources: resources });

  return {
    serviceProviderConfig,
    resourceTypes: () => list(resourceTypeDocs),
    resourceType: (name: string) => resourceTypeDocs.find((d) => d.id.toLowerCase() === name.toLowerCase()),
    schemas: () => list(schemaDocs),
    schema: (id: string) => schemaDocs.find((d) => d.id.toLowerCase() === id.toLowerCase()),
  };
}
