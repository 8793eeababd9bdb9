// `npm run bench:audit`: the ledger on the real PostgreSQL and Vault. Batched appends, single-entry
// transactional appends from 8 concurrent writers, a checkpoint, verification of the whole ledger,
// an evidence export of it, and that export's offline verification. AUDIT_BENCH_ENTRIES sets the
// ledger size (default 1,000,000).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBenchServices, report, percentile, type BenchRow } from './lib.js';
import { createTestDatabase, createTestVault, openOrm } from '../test/helpers/services.js';
import { sampleEntry } from '../test/helpers/ledger.js';
import { createLedger, LEDGER_KEY_NAME } from '../audit/ledger-service.js';
import { openLedgerRolePool } from '../audit/ledger-sql.js';
import { prepareEvidenceExport } from '../audit/evidence-export.js';
import { folderSink } from '../audit/evidence-sink.js';
import { verifyEvidence } from '../audit/evidence-verify.js';

const TOTAL = Number(process.env.AUDIT_BENCH_ENTRIES ?? 1_000_000);
const BATCH = 1000;
const WRITERS = 8;
const PER_WRITER = 500;

const seconds = (ms: number) => ms / 1000;

async function main() {
  const services = await startBenchServices();
  const rows: BenchRow[] = [];
  const work = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-audit-'));
  try {
    const [db, vault] = await Promise.all([createTestDatabase(), createTestVault()]);
    await vault.store.ensureSigningKey(LEDGER_KEY_NAME);
    const orm = await openOrm(db.appUrl, WRITERS + 2);
    const checkpointPool = openLedgerRolePool(db.ledgerUrl);
    const ledger = createLedger({ orm, signer: vault.store, checkpointPool });

    // 1. Batched appends: the whole ledger, 1,000 entries per call.
    let started = performance.now();
    for (let at = 0; at < TOTAL; at += BATCH) {
      await ledger.appendBatch(Array.from({ length: Math.min(BATCH, TOTAL - at) }, (_, i) => sampleEntry(at + i)));
      if (at % 100_000 === 0 && at) process.stderr.write(`  appended ${at}\n`);
    }
    let ms = performance.now() - started;
    rows.push({ name: `batched append (${BATCH} per call)`, value: TOTAL / seconds(ms), unit: 'entries/s', target: '>= 10000', extra: { entries: TOTAL, seconds: seconds(ms) } });

    // 2. Single-entry appends from 8 concurrent writers: each in a transaction of its own (the
    //    ledger's queue lets waiting appends share the next transaction), then each joined to a
    //    caller's transaction (em.transactional), which must take its own turn at the lock.
    for (const joined of [false, true]) {
      const latencies: number[] = [];
      started = performance.now();
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, w) => {
          for (let i = 0; i < PER_WRITER; i++) {
            const t0 = performance.now();
            const entry = sampleEntry(w * PER_WRITER + i);
            if (joined) await orm.em.fork().transactional((em) => ledger.append(entry, { em }));
            else await ledger.append(entry);
            latencies.push(performance.now() - t0);
          }
        }),
      );
      ms = performance.now() - started;
      latencies.sort((a, b) => a - b);
      rows.push({
        name: `single appends, ${WRITERS} writers, ${joined ? "in the caller's transaction" : 'own transactions'}`,
        value: (WRITERS * PER_WRITER) / seconds(ms),
        unit: 'entries/s',
        // The target is for appends that commit on their own. One joined to a caller's transaction
        // holds the ledger lock until that transaction commits, so these take turns, one commit each.
        ...(joined ? {} : { target: '>= 1000' }),
        extra: { p50_ms: percentile(latencies, 50), p99_ms: percentile(latencies, 99) },
      });
    }
    const size = TOTAL + 2 * WRITERS * PER_WRITER;

    // 3. The first checkpoint over everything (stores every 256-leaf subtree on the way).
    started = performance.now();
    const cp = await ledger.checkpoint();
    rows.push({ name: `first checkpoint over ${size} entries`, value: seconds(performance.now() - started), unit: 's', extra: { treeSize: cp!.treeSize } });
    const proofTimes: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await ledger.proveInclusion(Math.floor((i * size) / 50));
      proofTimes.push(performance.now() - t0);
    }
    proofTimes.sort((a, b) => a - b);
    rows.push({ name: 'inclusion proof against it', value: percentile(proofTimes, 50), unit: 'ms p50', extra: { p99_ms: percentile(proofTimes, 99) } });

    // 4. Verification of the whole ledger.
    started = performance.now();
    const verified = await ledger.verify();
    ms = performance.now() - started;
    if (!verified.ok) throw new Error(`verification failed: ${JSON.stringify(verified.problems.slice(0, 3))}`);
    rows.push({ name: `verify ${verified.entries} entries`, value: seconds(ms), unit: 's', target: '<= 5 (for 1,000,000)', extra: { entriesPerSecond: verified.entries / seconds(ms) } });

    // 5. Export of the whole ledger, and its offline verification.
    for (const format of ['jsonl', 'ocsf'] as const) {
      const out = path.join(work, `export-${format}`);
      started = performance.now();
      const prepared = await prepareEvidenceExport({ ledger, signer: vault.store }, { fromSeq: 0, toSeq: size - 1, format });
      const summary = await prepared.write(folderSink(out), { kind: 'system', id: 'bench' });
      ms = performance.now() - started;
      const bytes = Object.values(summary.manifest.files).reduce((n, f) => n + f.bytes, 0);
      rows.push({ name: `export ${size} entries (${format})`, value: seconds(ms), unit: 's', extra: { entriesPerSecond: size / seconds(ms), MB: bytes / 1e6 } });
      if (format === 'jsonl') {
        started = performance.now();
        const checked = await verifyEvidence(out);
        ms = performance.now() - started;
        if (!checked.ok) throw new Error(`export verification failed: ${JSON.stringify(checked.problems.slice(0, 3))}`);
        rows.push({ name: `verify-export ${checked.entries} entries (offline)`, value: seconds(ms), unit: 's' });
      }
      rmSync(out, { recursive: true, force: true });
    }

    report('audit', rows);
    await orm.close(true);
    await checkpointPool.end();
    await db.drop();
  } finally {
    rmSync(work, { recursive: true, force: true });
    await services.stop();
  }
}

await main();
