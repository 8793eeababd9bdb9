// `gatehouse flow …`: check, publish, list and show sync flows from the command line, as a pipeline
// that keeps flows in git would. A publication is recorded in the ledger under the operator's name,
// exactly as through the API.
import type { Command } from 'commander';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import { GatehouseError } from '../../shared/errors.js';
import { flowVersionHash, parseFlowDocument } from '../../workflows/flows/flow-document.js';
import { createFlowService } from '../../workflows/flows/flow-service.js';
import type { CliContext } from '../cli-context.js';
import { cliOperator, fail, readCliDocument, withCliContext } from './common.js';

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};



function service(ctx: CliContext) {
  const principal = cliOperator();
  return { flows: createFlowService({ orm: ctx.orm, ledger: ctx.ledger }), caller: { principal, ability: adminAbilityFor(principal) } };
}

export function registerFlowCommands(program: Command): void {
  const flow = program.command('flow').description('sync flows: check, publish, list, show');

  flow
    .command('check <file>')
    .description('check a flow document offline (schema and expressions) and print its version hash; nothing is stored')
    .action((file: string) => {
      try {
        const doc = parseFlowDocument(readCliDocument(file));
        out(`${doc.name}: valid, version ${flowVersionHash(doc)} (${doc.source.connector}/${doc.source.objectClass} -> ${doc.target.connector}/${doc.target.objectClass}, ${doc.target.operation})`);
      } catch (err) {
        if (err instanceof GatehouseError) fail(err.message);
        throw err;
      }
    });

  flow
    .command('publish <file>')
    .description('publish a flow document (YAML or JSON; - reads stdin): its runs use this version from now on')
    .option('--note <text>', 'why, for the record')
    .option('--replaces <hash>', 'refuse unless this version of the flow is in force ("none" for a new flow)')
    .option('--json', 'print the publication as JSON')
    .action(async (file: string, opts: { note?: string; replaces?: string; json?: boolean }) => {
      await withCliContext(async (ctx) => {
        const { flows, caller } = service(ctx);
        const replaces = opts.replaces === undefined ? undefined : opts.replaces === 'none' ? null : opts.replaces;
        const result = await flows.publish(caller, { document: readCliDocument(file), note: opts.note, replaces });
        if (opts.json) return out(JSON.stringify(result, null, 2));
        const p = result.publication;
        out(result.published ? `published flow ${p.name} version ${p.versionHash} (publication ${p.seq})` : `flow ${p.name} version ${p.versionHash} is already in force; nothing published`);
      });
    });

  flow
    .command('list')
    .description('list the flows in force')
    .option('--json', 'print them as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withCliContext(async (ctx) => {
        const { flows, caller } = service(ctx);
        const list = await flows.list(caller);
        if (opts.json) return out(JSON.stringify(list, null, 2));
        if (!list.length) return out('no flow is published yet: gatehouse flow publish <file>');
        for (const f of list) {
          const d = f.version.document;
          out(`${f.name}  ${d.source.connector}/${d.source.objectClass} -> ${d.target.connector}/${d.target.objectClass} (${d.target.operation})  version ${f.versionHash.slice(0, 12)}  published ${f.publishedAt} by ${f.publishedBy.name ?? f.publishedBy.id}`);
        }
      });
    });

  flow
    .command('show <name>')
    .description('print a flow in force as it was published, and its publications')
    .action(async (name: string) => {
      await withCliContext(async (ctx) => {
        const { flows, caller } = service(ctx);
        const { inForce, publications } = await flows.get(caller, name);
        out(`# ${inForce.name} version ${inForce.versionHash}`);
        process.stdout.write(inForce.version.source.endsWith('\n') ? inForce.version.source : `${inForce.version.source}\n`);
        out('# publications, newest first');
        for (const p of publications) out(`#   ${p.seq}  ${p.publishedAt}  ${p.versionHash}  by ${p.publishedBy.name ?? p.publishedBy.id}${p.note ? `  (${p.note})` : ''}`);
      });
    });
}
