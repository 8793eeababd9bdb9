// `gatehouse connector …`: configure connector instances from the command line, as the API does.
// Secrets are read from a file or stdin (--secrets-file), never from arguments, which other users
// of the machine can see; Gatehouse stores them in Vault and shows only which are set.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { parse as parseYaml } from 'yaml';
import { invalid } from '../../shared/errors.js';
import { createBuiltinConnectorRegistry } from '../../connectors/builtin-connectors.js';
import { createConnectorInstanceService, type ConnectorInstanceService } from '../../connectors/instances/connector-instance-service.js';
import type { ConnectorView } from '../../connectors/instances/connector-instance-types.js';
import type { ConnectorRegistry } from '../../connectors/connector-registry.js';
import { createTemporalProbe } from '../connector-module.js';
import { cliCaller, connectCliTemporal, refuseHeldChange, withCliContext } from './common.js';
import type { Caller } from '../../connectors/caller.js';
import type { CliContext } from '../cli-context.js';

export interface ConnectorCliIo {
  out(text: string): void;
  /** Reads a file, or stdin for '-'. */
  read(path: string): string;
}

export interface ConfigOptions {
  configFile?: string;
  set?: string[];
  unset?: string[];
  secretsFile?: string;
}

const defaultIo: ConnectorCliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  read: (path) => readFileSync(path === '-' ? 0 : path, 'utf8'),
};

function parseObject(text: string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw invalid(what, `is not valid JSON or YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalid(what, 'must hold an object of settings');
  return doc as Record<string, unknown>;
}

/** `key=value`: the value is read as JSON when it parses (numbers, true, lists), as text otherwise. */
function parseAssignment(assignment: string): [string, unknown] {
  const i = assignment.indexOf('=');
  if (i <= 0) throw invalid('--set', `expects key=value, got ${JSON.stringify(assignment)}`);
  const key = assignment.slice(0, i);
  const raw = assignment.slice(i + 1);
  try {
    return [key, JSON.parse(raw)];
  } catch {
    return [key, raw];
  }
}

/** Builds the configuration from the options; a secret anywhere but the secrets file is refused. */
export function configFromOptions(options: ConfigOptions, secretFields: readonly string[], io: ConnectorCliIo): Record<string, unknown> {
  const config: Record<string, unknown> = options.configFile ? parseObject(io.read(options.configFile), '--config-file') : {};
  for (const assignment of options.set ?? []) {
    const [key, value] = parseAssignment(assignment);
    if (secretFields.includes(key)) throw invalid(`config.${key}`, 'is a secret: give it in --secrets-file (a file, or - for stdin), never on the command line');
    config[key] = value;
  }
  for (const key of options.unset ?? []) config[key] = null;
  if (options.secretsFile) {
    const secrets = parseObject(io.read(options.secretsFile), '--secrets-file');
    for (const [key, value] of Object.entries(secrets)) {
      if (!secretFields.includes(key)) throw invalid(`--secrets-file.${key}`, `is not a secret field (secret fields: ${secretFields.join(', ') || 'none'}); put settings in --config-file or --set`);
      config[key] = value;
    }
  }
  return config;
}

function describeView(v: ConnectorView): string {
  const secrets = Object.entries(v.secrets).map(([k, s]) => `${k} (${s.set ? 'set' : 'not set'})`);
  return [
    `${v.name}  ${v.type}  ${v.id}`,
    ...(v.description ? [`  ${v.description}`] : []),
    `  revision ${v.revision}, secrets in Vault: ${secrets.join(', ') || 'none'}${v.secretVersion ? ` at version ${v.secretVersion}` : ''}`,
    `  can: ${v.capabilities.join(', ')}`,
    `  settings: ${JSON.stringify(v.config)}`,
  ].join('\n');
}

/** The commands' work, apart from argument parsing, so it can be run against any service. */
export function connectorCommandActions(service: ConnectorInstanceService, registry: ConnectorRegistry, io: ConnectorCliIo = defaultIo, caller: Caller = cliCaller()) {
  const print = (value: unknown, json: boolean | undefined, text: () => string) => io.out(json ? JSON.stringify(value, null, 2) : text());
  return {
    types(opts: { json?: boolean }) {
      const types = service.types(caller);
      print(types, opts.json, () => types.map((t) => `${t.type.padEnd(12)} ${t.title}: ${t.description}\n${' '.repeat(13)}secrets: ${t.secretFields.join(', ') || 'none'}`).join('\n'));
    },
    async list(opts: { json?: boolean }) {
      const all = await service.list(caller);
      print(all, opts.json, () => (all.length ? all.map((v) => `${v.name.padEnd(24)} ${v.type.padEnd(12)} ${v.id}`).join('\n') : 'no connectors configured'));
    },
    async show(ref: string, opts: { json?: boolean }) {
      const v = await service.get(ref, caller);
      print(v, opts.json, () => describeView(v));
    },
    async create(name: string, opts: ConfigOptions & { type: string; description?: string; json?: boolean }) {
      const config = configFromOptions(opts, registry.get(opts.type, '--type').secretFields, io);
      const v = await service.create({ name, type: opts.type, config, ...(opts.description ? { description: opts.description } : {}) }, caller);
      print(v, opts.json, () => `created ${describeView(v)}`);
    },
    async update(ref: string, opts: ConfigOptions & { description?: string; expectedRevision?: string; json?: boolean }) {
      const current = await service.get(ref, caller);
      const patch = configFromOptions(opts, registry.get(current.type).secretFields, io);
      const v = await service.update(ref, {
        ...(Object.keys(patch).length ? { config: patch } : {}),
        ...(opts.description !== undefined ? { description: opts.description } : {}),
        ...(opts.expectedRevision !== undefined ? { expectedRevision: Number(opts.expectedRevision) } : {}),
      }, caller);
      print(v, opts.json, () => `updated ${describeView(v)}`);
    },
    async remove(ref: string, opts: { yes?: boolean }) {
      if (!opts.yes) throw invalid('--yes', 'is required: deleting a connector also destroys its secrets in Vault');
      const v = await service.get(ref, caller);
      await service.remove(v.id, caller);
      io.out(`deleted ${v.name} and its secrets`);
    },
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The instance service as the command line uses it: its changes are ledger entries like the API's. */
async function cliConnectorService(ctx: CliContext): Promise<ConnectorInstanceService> {
  const secrets = await ctx.secrets();
  return createConnectorInstanceService({ orm: ctx.orm, secrets, registry: createBuiltinConnectorRegistry(), ledger: ctx.ledger });
}

async function runProbe(ref: string, json: boolean | undefined): Promise<void> {
  await withCliContext(async (ctx, { config }) => {
    const service = await cliConnectorService(ctx);
    const instance = await service.get(ref, cliCaller());
    const connection = await connectCliTemporal(config, 'the probe runs on a worker');
    try {
      const probe = createTemporalProbe({ client: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), taskQueue: config.TEMPORAL_TASK_QUEUE, timeout: '1 minute' });
      const { workflowId, outcome } = await probe(instance.id);
      defaultIo.out(
        json
          ? JSON.stringify({ connector: instance.name, workflowId, outcome }, null, 2)
          : outcome.ok
            ? `${instance.name}: ok (${outcome.probe.system}${outcome.probe.version ? ` ${outcome.probe.version}` : ''}) ${JSON.stringify(outcome.probe.details)}`
            : `${instance.name}: ${outcome.error.code}: ${outcome.error.message}`,
      );
      if (!outcome.ok) process.exitCode = 1;
    } finally {
      await connection.close();
    }
  });
}

export function registerConnectorCommands(program: Command): void {
  const group = program.command('connector').description('configure connector instances; their secrets go to Vault');
  const withActions = (fn: (actions: ReturnType<typeof connectorCommandActions>) => Promise<void> | void, held?: string) =>
    withCliContext(async (ctx) => {
      if (held) await refuseHeldChange(ctx.orm, 'changeConnectors', held);
      await fn(connectorCommandActions(await cliConnectorService(ctx), createBuiltinConnectorRegistry()));
    });

  group
    .command('types')
    .description('the connector types, their settings and secret fields')
    .option('--json', 'print JSON, with each type\'s configuration schema')
    .action((opts: { json?: boolean }) => withActions((a) => a.types(opts)));
  group
    .command('list')
    .description('the configured connectors')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => withActions((a) => a.list(opts)));
  group
    .command('show <connector>')
    .description('one connector (by name or id): settings, and which secrets are set')
    .option('--json', 'print JSON')
    .action((ref: string, opts: { json?: boolean }) => withActions((a) => a.show(ref, opts)));
  group
    .command('create <name>')
    .description('configure a connector; validated offline, secrets stored in Vault')
    .requiredOption('--type <type>', 'postgresql, ldap or http (see `connector types`)')
    .option('--description <text>', 'what it connects to')
    .option('--config-file <path>', 'settings as JSON or YAML')
    .option('--set <key=value>', 'one setting (repeatable); JSON values are parsed', collect)
    .option('--secrets-file <path>', 'the secret fields as JSON or YAML; - reads stdin')
    .option('--json', 'print JSON')
    .action((name: string, opts: ConfigOptions & { type: string; description?: string; json?: boolean }) => withActions((a) => a.create(name, opts), 'POST /api/connectors'));
  group
    .command('update <connector>')
    .description('change settings, or replace the secrets (all of them together)')
    .option('--description <text>', 'what it connects to')
    .option('--config-file <path>', 'settings to change, as JSON or YAML')
    .option('--set <key=value>', 'one setting (repeatable)', collect)
    .option('--unset <key>', 'remove a setting (repeatable)', collect)
    .option('--secrets-file <path>', 'every secret field, as JSON or YAML; - reads stdin')
    .option('--expected-revision <n>', 'refuse if the connector changed since revision n')
    .option('--json', 'print JSON')
    .action((ref: string, opts: ConfigOptions & { description?: string; expectedRevision?: string; json?: boolean }) => withActions((a) => a.update(ref, opts), `PATCH /api/connectors/${ref}`));
  group
    .command('delete <connector>')
    .description('delete a connector and destroy its secrets in Vault')
    .option('--yes', 'confirm')
    .action((ref: string, opts: { yes?: boolean }) => withActions((a) => a.remove(ref, opts), `DELETE /api/connectors/${ref}`));
  group
    .command('test <connector>')
    .description("probe the target live, on the running Gatehouse's worker (secrets are read there)")
    .option('--json', 'print JSON')
    .action((ref: string, opts: { json?: boolean }) => runProbe(ref, opts.json));
}
