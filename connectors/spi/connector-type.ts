// A connector type: its name, its configuration schema, what its instances can do, and how to
// build one from a validated configuration. The registry and the instance service see types only
// through this erased form, so adding a connector never touches them.
import type { Capability, Connector } from './connector.js';
import type { ConnectorConfigSchema, JsonSchema } from './config-schema.js';
import type { EgressGuard } from './egress.js';

/** What a connector is built with besides its configuration. */
export interface ConnectorContext {
  /** Names the instance in messages. */
  label: string;
  /** Where it may connect; without one, the policy the environment sets (environmentEgress). */
  egress?: EgressGuard;
}

export interface ConnectorTypeDefinition<C> {
  type: string;
  title: string;
  description: string;
  config: ConnectorConfigSchema<C>;
  /** Every capability an instance of this type can have. */
  capabilities: readonly Capability[];
  /** What an instance with these settings can do, when that depends on them (default: all of `capabilities`). */
  capabilitiesFor?(settings: Record<string, unknown>): Capability[];
  /** Offline checks the JSON Schema cannot express (a DN that does not parse, a mapping that does not compile). */
  check?(config: C, field: string): void;
  /**
   * The connector's own login, for rotation and the credential inventory: the secret field that
   * holds its credential, and the account name it logs in as where the settings say.
   */
  login?(settings: Record<string, unknown>): ConnectorLogin | undefined;
  /** Builds a connector; it connects lazily, on its first call. `label` names the instance in messages. */
  create(config: C, context: ConnectorContext): Connector;
}

export interface ConnectorLogin {
  secretField: string;
  accountName?: string;
}

export interface ConnectorType {
  readonly type: string;
  readonly title: string;
  readonly description: string;
  readonly jsonSchema: JsonSchema;
  readonly secretFields: readonly string[];
  /** Settings that say where the secrets are sent: changing one needs the secrets given again. */
  readonly endpointFields: readonly string[];
  readonly capabilities: readonly Capability[];
  capabilitiesFor(settings: Record<string, unknown>): Capability[];
  /** The connector's own login under these settings; undefined when it has no secret credential. */
  login(settings: Record<string, unknown>): ConnectorLogin | undefined;
  /** `validate()`: the whole configuration, offline; returns it with defaults applied, or throws naming the field. */
  validate(input: unknown, field?: string): unknown;
  /**
   * Validates settings for a change that leaves the secrets in Vault as they are (and unread):
   * the schema without the secrets, then the type's own checks with the stored secret fields
   * standing in as present.
   */
  validateSettings(settings: Record<string, unknown>, storedSecretFields: readonly string[], field?: string): void;
  split(config: Record<string, unknown>): { settings: Record<string, unknown>; secrets: Record<string, string> };
  /** Builds from the output of `validate`. */
  create(validated: unknown, context: ConnectorContext): Connector;
}

/** Takes the place of a secret that is set in Vault when only settings change; never sent anywhere. */
const STAND_IN = 'stored-in-vault';

export function defineConnectorType<C>(def: ConnectorTypeDefinition<C>): ConnectorType {
  const validate = (input: unknown, field = 'config'): C => {
    const config = def.config.parse(input, field);
    def.check?.(config, field);
    return config;
  };
  return {
    type: def.type,
    title: def.title,
    description: def.description,
    jsonSchema: def.config.jsonSchema,
    secretFields: def.config.secretFields,
    endpointFields: def.config.endpointFields,
    capabilities: def.capabilities,
    capabilitiesFor: (settings) => def.capabilitiesFor?.(settings) ?? [...def.capabilities],
    login: (settings) => def.login?.(settings),
    validate,
    validateSettings(settings, storedSecretFields, field = 'config') {
      def.config.checkSettings(settings, field);
      const standIns = Object.fromEntries(storedSecretFields.map((name) => [name, STAND_IN]));
      validate({ ...settings, ...standIns }, field);
    },
    split: (config) => def.config.split(config),
    create: (validated, context) => def.create(validated as C, context),
  };
}
