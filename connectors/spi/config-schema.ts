// A connector type's configuration: written once as a zod object (so its TypeScript type is
// derived), published as JSON Schema with secret fields marked `"secret": true` (and `writeOnly`),
// and validated offline against that published schema with ajv, so what the API documents is
// exactly what is enforced. Errors name the failing field as `config.<path>`.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { z } from 'zod';
import { invalid, type GatehouseError } from '../../shared/errors.js';

export type JsonSchema = Record<string, unknown>;

/** Marks a config field as a secret: it is stored in Vault, never in PostgreSQL or a response. */
export const secret = <T extends z.ZodString>(field: T): T => field.meta({ secret: true, writeOnly: true }) as T;

/**
 * Marks a config field as part of the endpoint: where the connector's secrets are sent and how that
 * connection is trusted (host, port, base URL, TLS and its CA). A change to one of these needs the
 * secrets given again, so a stored secret never goes anywhere new.
 */
export const endpoint = <T extends z.ZodType>(field: T): T => field.meta({ endpoint: true }) as T;

const ajv = new Ajv2020({ strict: true, allErrors: false, useDefaults: true, coerceTypes: false });
addFormats.default(ajv);
ajv.addKeyword({ keyword: 'secret', schemaType: 'boolean' });
ajv.addKeyword({ keyword: 'endpoint', schemaType: 'boolean' });

/** `/accounts/search/0/path` becomes `config.accounts.search[0].path`. */
function fieldOf(prefix: string, pointer: string, extra?: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : `${acc}.${p}`), prefix);
}

function describe(error: ErrorObject, prefix: string, typeName: string): GatehouseError {
  switch (error.keyword) {
    case 'required':
      return invalid(fieldOf(prefix, error.instancePath, (error.params as { missingProperty: string }).missingProperty), 'is required');
    case 'additionalProperties':
      return invalid(fieldOf(prefix, error.instancePath, (error.params as { additionalProperty: string }).additionalProperty), `is not a setting of ${typeName} connectors`);
    case 'enum':
      return invalid(fieldOf(prefix, error.instancePath), `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`);
    default:
      return invalid(fieldOf(prefix, error.instancePath), error.message ?? 'is not valid');
  }
}

export interface ConnectorConfigSchema<C> {
  /** The published JSON Schema (draft 2020-12), secret fields marked. */
  readonly jsonSchema: JsonSchema;
  /** Top-level fields whose values go to Vault. */
  readonly secretFields: readonly string[];
  /** Top-level fields that say where the secrets are sent (marked with `endpoint()`). */
  readonly endpointFields: readonly string[];
  /** Validates a complete configuration (settings and secrets) offline; returns it with defaults applied. */
  parse(input: unknown, field?: string): C;
  /** Validates the settings alone, with secrets left as they are in Vault (not read, not needed). */
  checkSettings(settings: Record<string, unknown>, field?: string): void;
  /** Separates secret values from settings. */
  split(config: Record<string, unknown>): { settings: Record<string, unknown>; secrets: Record<string, string> };
}

export function defineConnectorConfig<S extends z.ZodObject>(typeName: string, schema: S): ConnectorConfigSchema<z.output<S>> {
  const jsonSchema = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'throw' }) as JsonSchema;
  const properties = (jsonSchema.properties ?? {}) as Record<string, JsonSchema>;
  const secretFields = Object.entries(properties)
    .filter(([, p]) => p.secret === true)
    .map(([name]) => name);
  const endpointFields = Object.entries(properties)
    .filter(([, p]) => p.endpoint === true)
    .map(([name]) => name);
  for (const name of secretFields) {
    if (properties[name]!.type !== 'string') throw new Error(`${typeName} config: secret field ${name} must be a string (Vault KV holds strings)`);
  }
  // The same schema with secrets optional and unconstrained, for changes that leave them alone.
  const settingsSchema: JsonSchema = {
    ...jsonSchema,
    properties: Object.fromEntries(Object.entries(properties).map(([k, p]) => [k, secretFields.includes(k) ? { type: 'string' } : p])),
    required: ((jsonSchema.required ?? []) as string[]).filter((r) => !secretFields.includes(r)),
  };
  const validateFull: ValidateFunction = ajv.compile(jsonSchema);
  const validateSettings: ValidateFunction = ajv.compile(settingsSchema);

  const run = (validate: ValidateFunction, input: unknown, field: string): Record<string, unknown> => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid(field, 'must be an object');
    const copy = structuredClone(input) as Record<string, unknown>;
    if (!validate(copy)) throw describe(validate.errors![0]!, field, typeName);
    return copy;
  };

  return {
    jsonSchema,
    secretFields,
    endpointFields,
    parse(input, field = 'config') {
      const checked = run(validateFull, input, field);
      const parsed = schema.safeParse(checked);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw invalid([field, ...issue.path.map(String)].join('.'), issue.message);
      }
      return parsed.data;
    },
    checkSettings(settings, field = 'config') {
      run(validateSettings, settings, field);
    },
    split(config) {
      const settings: Record<string, unknown> = {};
      const secrets: Record<string, string> = {};
      for (const [k, v] of Object.entries(config)) {
        if (secretFields.includes(k)) {
          if (typeof v === 'string') secrets[k] = v;
        } else settings[k] = v;
      }
      return { settings, secrets };
    },
  };
}
