// `gatehouse policy …`: check, publish, show and simulate access policy documents from the command
// line, as an operator (or a pipeline that keeps policies in git) would. A publication is recorded
// in the ledger under the operator's name, exactly as through the API.
import type { Command } from 'commander';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import { parsePolicyDocument, policyVersionHash } from '../../policies/policy-document.js';
import { createPolicyService, type AdminChangeProposals } from '../../policies/policy-service.js';
import { createPolicyStore } from '../../policies/policy-store.js';
import { GatehouseError, invalid } from '../../shared/errors.js';
import { createIdentityResolver } from '../access/identity-resolver.js';
import { createSimulationSource } from '../access/simulation-source.js';
import type { CliContext } from '../cli-context.js';
import { publicUrl, type Config } from '../config.js';
import { Client, type Connection } from '@temporalio/client';
import { createDecisionSigner } from '../../policies/decision-signer.js';
import { createAdminChanges } from '../admin/admin-changes.js';
import { cliOperator, connectCliTemporal, fail, readCliDocument, withCliContext } from './common.js';

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};



async function service(ctx: CliContext, config?: Config) {
  const store = createPolicyStore({ orm: ctx.orm });
  const { ledger } = ctx;
  const identities = createIdentityResolver({ orm: ctx.orm });
  const simulation = createSimulationSource({ orm: ctx.orm, subjects: identities });
  const principal = cliOperator();
  // A publication the policy in force says needs approval is proposed through a running Gatehouse's
  // Temporal, reached only then: checking, showing and the bootstrap publication do not need it.
  const connections: Connection[] = [];
  const proposals: AdminChangeProposals | undefined = config && {
    async proposePublication(input) {
      const connection = await connectCliTemporal(config, `${input.requirement.reason}, so the publication waits at the approval gate`);
      connections.push(connection);
      const changes = createAdminChanges({
        orm: ctx.orm,
        ledger,
        policies: store,
        temporal: { client: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), taskQueue: config.TEMPORAL_TASK_QUEUE },
        identities,
        decisions: createDecisionSigner(await ctx.secrets()),
      });
      return changes.proposals.proposePublication(input);
    },
  };
  return {
    policies: createPolicyService({ orm: ctx.orm, store, ledger, simulation, ...(proposals ? { proposals } : {}) }),
    caller: { principal, ability: adminAbilityFor(principal) },
    close: () => Promise.all(connections.map((c) => c.close())),
  };
}

export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('access policies: check, publish, show, history, simulate');

  policy
    .command('check <file>')
    .description('check a policy document offline and print its version hash (nothing is stored)')
    .action((file: string) => {
      try {
        const doc = parsePolicyDocument(readCliDocument(file));
        out(`${doc.name}: valid, version ${policyVersionHash(doc)} (${doc.rules.length} rules, ${doc.separationOfDuties.length} separation-of-duties rules, ${doc.targets.length} targets)`);
      } catch (err) {
        if (err instanceof GatehouseError) fail(err.message);
        throw err;
      }
    });

  policy
    .command('publish <file>')
    .description('publish a policy document (YAML or JSON; - reads stdin): it is in force for every decision from now on')
    .option('--note <text>', 'why, for the record')
    .option('--replaces <hash>', 'refuse unless this version is the one in force (guards against a concurrent publication)')
    .option('--json', 'print the publication as JSON')
    .action(async (file: string, opts: { note?: string; replaces?: string; json?: boolean }) => {
      await withCliContext(async (ctx, { config }) => {
        const { policies, caller, close } = await service(ctx, config);
        try {
          const result = await policies.publish(caller, { document: readCliDocument(file), note: opts.note, replaces: opts.replaces });
          if (opts.json) return out(JSON.stringify(result, null, 2));
          if ('awaitingApproval' in result) {
            const c = result.awaitingApproval;
            out(
              `nothing published yet: ${c.reasons.join('; ')}.\nadmin change ${c.id} waits for approval: ${c.summary}.\n` +
                `Another admin approves it in their inbox (${publicUrl(config)}/inbox) or with POST /api/admin-changes/${c.id}/decision; it is published then.`,
            );
            return;
          }
          const p = result.publication;
          out(result.published ? `published ${p.name} version ${p.versionHash} (publication ${p.seq})` : `${p.name} version ${p.versionHash} is already in force; nothing published`);
        } finally {
          await close();
        }
      });
    });

  policy
    .command('show')
    .description('print the policy in force (or a version, by its hash) as it was published')
    .option('--version <hash>', 'a version hash instead of the version in force')
    .action(async (opts: { version?: string }) => {
      await withCliContext(async (ctx) => {
        const { policies, caller } = await service(ctx);
        const version = opts.version ? await policies.version(caller, opts.version) : (await policies.inForce(caller))?.version;
        if (!version) return out('no access policy is published yet: gatehouse policy publish <file>');
        out(`# ${version.name} version ${version.versionHash}`);
        process.stdout.write(version.source.endsWith('\n') ? version.source : `${version.source}\n`);
      });
    });

  policy
    .command('history')
    .description('list publications, newest first')
    .option('--limit <n>', 'how many', '20')
    .action(async (opts: { limit: string }) => {
      await withCliContext(async (ctx) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('--limit', 'must be a whole number from 1 to 1000');
        const { policies, caller } = await service(ctx);
        for (const p of await policies.publications(caller, { limit })) {
          out(`${String(p.seq).padStart(5)}  ${p.publishedAt}  ${p.name}  ${p.versionHash}  by ${p.publishedBy.name ?? p.publishedBy.id}${p.note ? `  (${p.note})` : ''}`);
        }
      });
    });

  policy
    .command('simulate <file>')
    .description('decide current assignments and pending requests again under a draft, and print what would change')
    .option('--json', 'print the full report as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      await withCliContext(async (ctx) => {
        const { policies, caller } = await service(ctx);
        const report = await policies.simulate(caller, { document: readCliDocument(file) });
        if (opts.json) return out(JSON.stringify(report, null, 2));
        out(`draft ${report.draft.name} ${report.draft.versionHash} against ${report.inForce ? `${report.inForce.name} ${report.inForce.versionHash}` : 'no policy in force'}`);
        for (const [label, part] of [['assignments', report.assignments], ['pending requests', report.pendingRequests]] as const) {
          out(`${label}: ${part.evaluated} evaluated, ${part.differences.length} decided differently`);
          for (const d of part.differences) {
            out(`  ${Object.values(d.ref).join(' ')}: ${d.before?.effect ?? 'undecided'} -> ${d.after.effect}  (${d.after.reasons.join('; ')})`);
          }
        }
        if (report.truncated) out('(more cases than the limit; only the first were evaluated)');
      });
    });
}
