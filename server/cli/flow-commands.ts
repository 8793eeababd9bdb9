// `gatehouse flow …`: check, publish, list and show sync flows from the command line, as a pipeline
// that keeps flows in git would. A publication is recorded in the ledger under the operator's name,
// exactly as through the API.
import type { Command } from 'commander';
import { Client } from '@temporalio/client';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import { GatehouseError, invalid } from '../../shared/errors.js';
import { flowVersionHash, parseFlowDocument } from '../../workflows/flows/flow-document.js';
import { createFlowService, type FlowRun } from '../../workflows/flows/flow-service.js';
import type { SecretStore } from '../../shared/secrets/secret-store.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../workflows/flows/flow-webhooks.js';
import type { CliContext } from '../cli-context.js';
import type { Config } from '../config.js';
import { cliOperator, connectCliTemporal, fail, readCliDocument, withCliContext } from './common.js';

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};



function service(ctx: CliContext, temporal?: { client: Client; taskQueue: string }, secrets?: SecretStore) {
  const principal = cliOperator();
  return { flows: createFlowService({ orm: ctx.orm, ledger: ctx.ledger, ...(temporal ? { temporal } : {}), ...(secrets ? { secrets } : {}) }), caller: { principal, ability: adminAbilityFor(principal) } };
}

/** The flow service with a running Gatehouse's Temporal, for what runs on its workers; the connection is closed after `work`. */
async function withWorkers<T>(ctx: CliContext, config: Config, why: string, work: (flows: ReturnType<typeof service>['flows'], caller: ReturnType<typeof service>['caller']) => Promise<T>): Promise<T> {
  const connection = await connectCliTemporal(config, why);
  try {
    const { flows, caller } = service(ctx, { client: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), taskQueue: config.TEMPORAL_TASK_QUEUE });
    return await work(flows, caller);
  } finally {
    await connection.close();
  }
}

/** A run's access changes, where they stand now (each is decided, and waits for approval, on its own). */
const changes = ({ accessChanges: c }: FlowRun) =>
  c.total
    ? `, ${c.total} access changes handed to the gate (${[`${c.applied} applied`, c.awaitingApproval && `${c.awaitingApproval} awaiting approval`, c.inProgress && `${c.inProgress} in progress`, c.refused && `${c.refused} refused`, c.failed && `${c.failed} failed`].filter(Boolean).join(', ')})`
    : '';

/** A plan waiting for a person says so, with what it would write and where to decide it. */
const planNote = ({ plan, flow, id }: FlowRun) =>
  plan?.state === 'awaiting-approval'
    ? `waiting for its plan to be approved (${plan.reasons.join('; ')}): ${plan.counts.create} to create, ${plan.counts.update} to update, ${plan.counts.grant} access changes; digest ${plan.digest}; decide in the web UI (Flows, ${flow}) or POST /api/flows/${flow}/runs/${id}/plan-decision; `
    : '';

const counts = (r: FlowRun) =>
  `${planNote(r)}${r.pages} pages, ${r.read} read, ${r.skipped} skipped, ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged${r.deleted ? `, ${r.deleted} deleted (mirror)` : ''}${changes(r)}${r.deadLettered ? `, ${r.deadLettered} set aside (gatehouse flow dead-letters ${r.flow})` : ''}`;

export function registerFlowCommands(program: Command): void {
  const flow = program.command('flow').description('sync flows: check, publish, list, show, preview, run, runs, dead-letters, replay, discard, webhook-secret');

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
    .command('webhook-secret <name>')
    .description('set a new webhook secret for a flow started by webhooks (in Vault); it is printed this once, and the old one stops working')
    .option('--json', 'print it as JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      await withCliContext(async (ctx, { config }) => {
        const { flows, caller } = service(ctx, undefined, await ctx.secrets());
        const set = await flows.setWebhookSecret(caller, name);
        if (opts.json) return out(JSON.stringify(set, null, 2));
        out(`flow ${name}: a new webhook secret is set (the old one no longer works). It is not shown again:\n\n  ${set.secret}\n`);
        out(`Callers POST to ${config.PUBLIC_URL ?? `http://localhost:${config.PORT}`}${set.path}`);
        out(
          set.auth === 'hmac'
            ? `with headers ${TIMESTAMP_HEADER}: <unix seconds> and ${SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>`
            : 'with the header Authorization: Bearer <secret>',
        );
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
    .command('run <name>')
    .description('run a flow now, on the workers of the running Gatehouse, and follow it until it ends')
    .option('--no-wait', 'print the run id and return at once')
    .option('--refresh', 'a full resync: read the source from its start (records already written come out unchanged)')
    .action(async (name: string, opts: { wait: boolean; refresh?: boolean }) => {
      await withCliContext(async (ctx, { config }) => {
        await withWorkers(ctx, config, 'a flow runs on the workers of a running Gatehouse', async (flows, caller) => {
          let run = await flows.startRun(caller, name, { refresh: opts.refresh });
          out(`run ${run.id} of flow ${name} started${opts.refresh ? ', from the start of the source (refresh)' : ''}`);
          if (!opts.wait) return;
          let shown = '';
          while (run.status === 'running') {
            await new Promise((r) => setTimeout(r, 1000));
            run = await flows.run(caller, name, run.id);
            const now = counts(run);
            if (now !== shown && run.status === 'running') out(`  ${now}`);
            shown = now;
          }
          if (run.status === 'failed') fail(`run ${run.id} failed after ${counts(run)}: ${run.error ?? 'no reason recorded'}`);
          out(`run ${run.id} succeeded: ${counts(run)}`);
        });
      });
    });

  flow
    .command('runs <name>')
    .description("list a flow's runs, newest first")
    .option('--limit <n>', 'how many', '20')
    .action(async (name: string, opts: { limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) fail(invalid('--limit', 'must be a whole number from 1 to 200').message);
      await withCliContext(async (ctx) => {
        const { flows, caller } = service(ctx);
        const runs = await flows.runs(caller, name, limit);
        if (!runs.length) return out(`flow ${name} has not run yet: gatehouse flow run ${name}`);
        for (const r of runs) out(`${r.id}  ${r.startedAt}  ${r.status.padEnd(9)}  ${counts(r)}${r.error ? `  (${r.error})` : ''}`);
      });
    });

  flow
    .command('preview <name>')
    .description('what the next run would do with the next records (nothing is written, the cursor stays), on the running Gatehouse\'s workers')
    .option('--limit <n>', 'how many records to look at', '500')
    .option('--json', 'print the preview as JSON, with its sample of records')
    .action(async (name: string, opts: { limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) fail(invalid('--limit', 'must be a whole number from 1 to 10000').message);
      await withCliContext(async (ctx, { config }) => {
        await withWorkers(ctx, config, 'a preview runs on the workers of a running Gatehouse', async (flows, caller) => {
          const p = await flows.preview(caller, name, limit);
          if (opts.json) return out(JSON.stringify(p, null, 2));
          const c = p.counts;
          const writes = p.targetKind === 'membership' ? `${c.grant} grants to hand to the access gate (it decides each when the run proposes it)` : `${c.create} to create, ${c.update} to update${c.delete ? `, ${c.delete} to delete (mirror)` : ''}`;
          out(`flow ${name}: ${p.read} records after the cursor${p.moreAfter ? ' (more after them)' : ''}: ${writes}, ${c.unchanged} unchanged, ${c.kept} kept (create-only), ${c.skipped} skipped, ${c.refused} refused`);
          for (const item of p.sample.filter((x) => x.situation === 'update' || x.situation === 'refused').slice(0, 10)) {
            out(`  ${item.situation}: ${item.changedFields ? `fields ${item.changedFields.join(', ')}` : (item.error ?? '')}`);
          }
        });
      });
    });

  flow
    .command('dead-letters <name>')
    .description("list a flow's dead letters (records a run could not map or write), redacted by its field rules")
    .option('--status <status>', 'open, replayed, discarded or superseded', 'open')
    .option('--json', 'print them as JSON')
    .action(async (name: string, opts: { status: string; json?: boolean }) => {
      const statuses = ['open', 'replayed', 'discarded', 'superseded'] as const;
      const status = statuses.find((s) => s === opts.status);
      if (!status) fail(invalid('--status', `must be one of ${statuses.join(', ')}`).message);
      await withCliContext(async (ctx) => {
        const { flows, caller } = service(ctx);
        const letters = await flows.deadLetters(caller, name, { status });
        if (opts.json) return out(JSON.stringify(letters, null, 2));
        if (!letters.length) return out(`flow ${name} has no ${status} dead letters`);
        for (const l of letters) out(`${l.id}  ${l.createdAt}  ${l.stage.padEnd(5)}  attempts ${l.attempts}  ${l.error}${l.reason ? `  (${l.reason})` : ''}`);
      });
    });

  flow
    .command('replay <name> <id>')
    .description("run a dead letter through the flow's version in force again, on the running Gatehouse's workers")
    .action(async (name: string, id: string) => {
      await withCliContext(async (ctx, { config }) => {
        await withWorkers(ctx, config, 'a replay runs on the workers of a running Gatehouse', async (flows, caller) => {
          const result = await flows.replayDeadLetter(caller, name, id);
          if (result.status !== 'replayed') fail(`dead letter ${id} was refused again: ${result.error ?? result.status}`);
          out(`dead letter ${id} replayed: ${result.outcome ?? ''}`);
        });
      });
    });

  flow
    .command('discard <name> <id>')
    .description('set a dead letter aside for good; the reason is recorded on the ledger')
    .requiredOption('--reason <text>', 'why')
    .action(async (name: string, id: string, opts: { reason: string }) => {
      await withCliContext(async (ctx) => {
        const { flows, caller } = service(ctx);
        await flows.discardDeadLetter(caller, name, id, opts.reason);
        out(`dead letter ${id} discarded`);
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
