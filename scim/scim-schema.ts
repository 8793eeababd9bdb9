// The SCIM schemas Gatehouse serves (RFC 7643): core User, the enterprise User extension and Group,
// as data. Discovery, validation, filtering, PATCH and projection all read these definitions, so
// what /Schemas advertises is exactly what the server accepts, stores and returns.

export type AttributeType = 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'binary' | 'complex';
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
export type Returned = 'always' | 'never' | 'default' | 'request';

export interface AttributeDef {
  name: string;
  type: AttributeType;
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: Mutability;
  returned: Returned;
  uniqueness: 'none' | 'server' | 'global';
  canonicalValues?: string[];
  referenceTypes?: string[];
  subAttributes?: AttributeDef[];
}

export interface SchemaDef {
  id: string;
  name: string;
  description: string;
  attributes: AttributeDef[];
}

export const SCHEMA_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCHEMA_ENTERPRISE_USER = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const SCHEMA_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

export const MSG_LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const MSG_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const MSG_PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const MSG_SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const MSG_BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const MSG_BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
export const SCHEMA_SPC = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
export const SCHEMA_RESOURCE_TYPE = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
export const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

/**
 * Schema URIs clients list in `schemas` that carry no attributes and that we accept and ignore.
 * Microsoft Entra's documented group creation request lists this one (and sends nothing under it).
 */
export const TOLERATED_CLIENT_SCHEMAS = new Set(['http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'.toLowerCase()]);

type AttrOptions = Partial<Omit<AttributeDef, 'name' | 'type' | 'description'>>;

function attr(name: string, type: AttributeType, description: string, options: AttrOptions = {}): AttributeDef {
  return {
    name,
    type,
    multiValued: false,
    description,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...options,
  };
}

const str = (name: string, description: string, options: AttrOptions = {}) => attr(name, 'string', description, options);

/** The sub-attributes every multi-valued "value/display/type/primary" attribute has. */
function multiValued(name: string, description: string, valueType: AttributeType, types: string[], options: { valueCaseExact?: boolean; referenceTypes?: string[] } = {}): AttributeDef {
  return attr(name, 'complex', description, {
    multiValued: true,
    subAttributes: [
      attr('value', valueType, `The value of the ${name} entry.`, {
        caseExact: options.valueCaseExact ?? false,
        ...(options.referenceTypes ? { referenceTypes: options.referenceTypes } : {}),
      }),
      str('display', 'A human-readable name, primarily used for display purposes.'),
      str('type', 'A label indicating the function of the value.', types.length ? { canonicalValues: types } : {}),
      attr('primary', 'boolean', 'Whether this is the preferred value; true appears at most once.'),
    ],
  });
}

export const userSchema: SchemaDef = {
  id: SCHEMA_USER,
  name: 'User',
  description: 'User Account',
  attributes: [
    str('userName', 'Unique identifier for the User within its directory, compared case-insensitively.', { required: true, uniqueness: 'server' }),
    attr('name', 'complex', "The components of the user's real name.", {
      subAttributes: [
        str('formatted', 'The full name, formatted for display.'),
        str('familyName', 'The family name.'),
        str('givenName', 'The given name.'),
        str('middleName', 'The middle name(s).'),
        str('honorificPrefix', 'The honorific prefix(es), e.g. "Ms.".'),
        str('honorificSuffix', 'The honorific suffix(es), e.g. "III".'),
      ],
    }),
    str('displayName', 'The name of the User, suitable for display.'),
    str('nickName', 'The casual way to address the user.'),
    attr('profileUrl', 'reference', "A URI of the user's online profile.", { referenceTypes: ['external'] }),
    str('title', "The user's title, such as \"Vice President\"."),
    str('userType', 'The relationship between the organization and the user, e.g. "Employee".'),
    str('preferredLanguage', "The user's preferred written or spoken language."),
    str('locale', "The user's default location for localization."),
    str('timezone', "The user's time zone in IANA format."),
    attr('active', 'boolean', "The user's administrative status."),
    str('password', 'Accepted for compatibility and discarded: Gatehouse never stores or returns passwords.', {
      mutability: 'writeOnly',
      returned: 'never',
    }),
    multiValued('emails', 'Email addresses for the user.', 'string', ['work', 'home', 'other']),
    multiValued('phoneNumbers', 'Phone numbers for the user.', 'string', ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
    multiValued('ims', 'Instant messaging addresses for the user.', 'string', ['aim', 'gtalk', 'icq', 'xmpp', 'msn', 'skype', 'qq', 'yahoo']),
    multiValued('photos', 'URLs of photos of the user.', 'reference', ['photo', 'thumbnail'], { valueCaseExact: true, referenceTypes: ['external'] }),
    attr('addresses', 'complex', 'Physical mailing addresses for this user.', {
      multiValued: true,
      subAttributes: [
        str('formatted', 'The full mailing address, formatted for display.'),
        str('streetAddress', 'The full street address component.'),
        str('locality', 'The city or locality component.'),
        str('region', 'The state or region component.'),
        str('postalCode', 'The zip code or postal code component.'),
        str('country', 'The country name component.'),
        str('type', 'A label indicating the function of the address.', { canonicalValues: ['work', 'home', 'other'] }),
        attr('primary', 'boolean', 'Whether this is the preferred mailing address.'),
      ],
    }),
    attr('groups', 'complex', 'The groups the user belongs to directly, maintained through the Group resource.', {
      multiValued: true,
      mutability: 'readOnly',
      subAttributes: [
        str('value', 'The id of the Group.', { mutability: 'readOnly', caseExact: true }),
        attr('$ref', 'reference', 'The URI of the Group.', { mutability: 'readOnly', caseExact: true, referenceTypes: ['Group'] }),
        str('display', 'The displayName of the Group.', { mutability: 'readOnly' }),
        str('type', 'How the membership is held: always "direct" here.', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
      ],
    }),
    multiValued('entitlements', 'Entitlements of the user.', 'string', []),
    multiValued('roles', 'Roles of the user.', 'string', []),
    multiValued('x509Certificates', 'X.509 certificates of the user, base64 DER.', 'binary', [], { valueCaseExact: true }),
  ],
};

export const enterpriseUserSchema: SchemaDef = {
  id: SCHEMA_ENTERPRISE_USER,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    str('employeeNumber', 'A string identifier, typically numeric or alphanumeric, assigned to a person.'),
    str('costCenter', 'Identifies the name of a cost center.'),
    str('organization', 'Identifies the name of an organization.'),
    str('division', 'Identifies the name of a division.'),
    str('department', 'Identifies the name of a department.'),
    attr('manager', 'complex', "The user's manager.", {
      subAttributes: [
        str('value', 'The id of the SCIM resource representing the manager.', { caseExact: true }),
        attr('$ref', 'reference', 'The URI of the SCIM resource representing the manager.', { caseExact: true, referenceTypes: ['User'] }),
      ],
    }),
  ],
};

export const groupSchema: SchemaDef = {
  id: SCHEMA_GROUP,
  name: 'Group',
  description: 'Group',
  attributes: [
    str('displayName', 'A human-readable name for the Group.', { required: true }),
    attr('members', 'complex', 'Members of the Group: Users or Groups of the same directory.', {
      multiValued: true,
      subAttributes: [
        str('value', 'The id of the member.', { mutability: 'immutable', caseExact: true }),
        attr('$ref', 'reference', 'The URI of the member, set by the server.', { mutability: 'readOnly', caseExact: true, referenceTypes: ['User', 'Group'] }),
        str('display', 'A name for the member, kept as the client sent it.'),
        str('type', 'The type of the member, set by the server from the id.', { mutability: 'immutable', canonicalValues: ['User', 'Group'] }),
      ],
    }),
  ],
};

/** id, externalId and meta: the common attributes every resource has (RFC 7643 section 3.1). */
export const commonAttributes: AttributeDef[] = [
  str('id', 'Unique identifier assigned by Gatehouse.', { caseExact: true, mutability: 'readOnly', returned: 'always', uniqueness: 'server' }),
  str('externalId', 'An identifier for the resource as defined by the provisioning client.', { caseExact: true }),
  attr('meta', 'complex', 'Resource metadata.', {
    mutability: 'readOnly',
    subAttributes: [
      str('resourceType', 'The name of the resource type.', { caseExact: true, mutability: 'readOnly' }),
      attr('created', 'dateTime', 'When the resource was added.', { mutability: 'readOnly' }),
      attr('lastModified', 'dateTime', 'When the resource was last changed.', { mutability: 'readOnly' }),
      attr('location', 'reference', 'The URI of the resource.', { caseExact: true, mutability: 'readOnly' }),
      str('version', 'The version (ETag) of the resource.', { caseExact: true, mutability: 'readOnly' }),
    ],
  }),
];

export type ResourceTypeName = 'User' | 'Group';

export interface ResourceTypeDef {
  name: ResourceTypeName;
  endpoint: string;
  description: string;
  schema: SchemaDef;
  extensions: { schema: SchemaDef; required: boolean }[];
}

export const userResourceType: ResourceTypeDef = {
  name: 'User',
  endpoint: '/Users',
  description: 'User Account',
  schema: userSchema,
  extensions: [{ schema: enterpriseUserSchema, required: false }],
};

export const groupResourceType: ResourceTypeDef = {
  name: 'Group',
  endpoint: '/Groups',
  description: 'Group',
  schema: groupSchema,
  extensions: [],
};

export const resourceTypes: ResourceTypeDef[] = [userResourceType, groupResourceType];
export const allSchemas: SchemaDef[] = [userSchema, enterpriseUserSchema, groupSchema];

// Lookups are Maps, never plain objects: an attribute named "constructor" or "__proto__" must not
// resolve to something inherited from Object.prototype.
const byLowerName = new WeakMap<AttributeDef[], Map<string, AttributeDef>>();

/** Finds an attribute (or sub-attribute) by name, case-insensitively as RFC 7643 requires. */
export function findAttribute(attributes: AttributeDef[] | undefined, name: string): AttributeDef | undefined {
  if (!attributes) return undefined;
  let map = byLowerName.get(attributes);
  if (!map) {
    map = new Map(attributes.map((a) => [a.name.toLowerCase(), a]));
    byLowerName.set(attributes, map);
  }
  return map.get(name.toLowerCase());
}

/** The extension schema of a resource type with this URI (case-insensitive), if any. */
export function findExtension(rt: ResourceTypeDef, urn: string): SchemaDef | undefined {
  const lower = urn.toLowerCase();
  return rt.extensions.find((e) => e.schema.id.toLowerCase() === lower)?.schema;
}
