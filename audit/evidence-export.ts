// Evidence exports for auditors: the entries of a time or sequence range (JSON lines, CSV or
// OCSF), the signed checkpoints that cover them with consistency proofs between them, inclusion
// proofs for the first and last entry, the public keys, and a manifest holding the SHA-256 of every
// file, itself signed. `verifyEvidence` checks all of it with no database and no network.
import { hostname } from 'node:os';
import { stringify } from 'csv-stringify/sync';
import { spreadsheetSafe } from '../shared/spreadsheet-cell.js';
import { z } from 'zod';
import { GatehouseError, invalid } from '../shared/errors.js';
import type { SecretStore } from '../shared/secrets/secret-store.js';
import type { Actor, LedgerEntry } from './ledger-types.js';
import { canonicalize, entryFromCanonical } from './ledger-entry-codec.js';
import { LEDGER_KEY_NAME, type Checkpoint, type ConsistencyProof, type InclusionProof, type Ledger } from './ledger-service.js';
import { noteVerifierKey, signedNote } from './checkpoint-note.js';
import { OCSF_VERSION, toOcsf } from './ocsf.js';
import type { EvidenceSink, FileDigest } from './evidence-sink.js';

export const EXPORT_FORMATS = ['jsonl', 'csv', 'ocsf'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const EVIDENCE_FORMAT = 'gatehouse-evidence/1';

const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2026-10-01T00:00:00Z' });
const seqNumber = z.coerce.number({ message: 'must be a sequence number' }).int('must be a whole number').min(0, 'must not be negative');

/** An export of entries recorded in [from, to), or of sequence numbers [fromSeq, toSeq]. */
export const exportRequestSchema = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    fromSeq: seqNumber.optional(),
    toSeq: seqNumber.optional(),
    format: z.enum(EXPORT_FORMATS).default('jsonl'),
  })
  .strict()
  .superRefine((r, ctx) => {
    const byTime = r.from !== undefined || r.to !== undefined;
    const bySeq = r.fromSeq !== undefined || r.toSeq !== undefined;
    if (byTime && bySeq) ctx.addIssue({ code: 'custom', path: ['fromSeq'], message: 'give a time range (from, to) or a sequence range (fromSeq, toSeq), not both' });
    if (r.from && r.to && Date.parse(r.from) >= Date.parse(r.to)) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
    if (r.fromSeq !== undefined && r.toSeq !== undefined && r.fromSeq > r.toSeq) ctx.addIssue({ code: 'custom', path: ['toSeq'], message: 'must not be before fromSeq' });
  });
export type ExportRequest = z.input<typeof exportRequestSchema>;

export const CSV_COLUMNS = [
  'seq', 'timestamp', 'action', 'actor_kind', 'actor_id', 'actor_display', 'subject_type', 'subject_id', 'subject_display',
  'target_type', 'target_id', 'target_display', 'workflow_id', 'run_id', 'request_id', 'directory_id', 'change_id',
  'policy_id', 'policy_version_hash', 'details', 'prev_hash', 'hash', 'entry',
] as const;

/**
 * An entry as a CSV row. Cells a spreadsheet would run as a formula are quoted (the last column, the
 * hashed entry itself, is JSON and never is); `plain` is the rendering of exports made before that,
 * which the verifier still accepts.
 */
export function csvRow(entry: LedgerEntry, canonicalJson: string, options: { plain?: boolean } = {}): string[] {
  const c = entry.correlation ?? {};
  const cells = [
    String(entry.seq), entry.timestamp, entry.action, entry.actor.kind, entry.actor.id, entry.actor.display ?? '',
    entry.subject?.type ?? '', entry.subject?.id ?? '', entry.subject?.display ?? '',
    entry.target?.type ?? '', entry.target?.id ?? '', entry.target?.display ?? '',
    c.workflowId ?? '', c.runId ?? '', c.requestId ?? '', c.directoryId ?? '', c.changeId ?? '',
    entry.policy?.id ?? '', entry.policy?.versionHash ?? '', entry.details ? canonicalize(entry.details)! : '',
    entry.prevHash, entry.hash,
  ];
  return [...(options.plain ? cells : cells.map(spreadsheetSafe)), canonicalJson];
}

/** A JSON line of an entry: its canonical JSON with the two hashes added. */
export const jsonLine = (canonicalJson: string, prevHash: string, hash: string) => `${canonicalJson.slice(0, -1)},"hash":"${hash}","prevHash":"${prevHash}"}\n`;

export const entriesFileName = (format: ExportFormat) => (format === 'csv' ? 'entries.csv' : format === 'ocsf' ? 'entries.ocsf.jsonl' : 'entries.jsonl');

export interface EvidenceManifest {
  format: typeof EVIDENCE_FORMAT;
  createdAt: string;
  ledger: { origin: string; keyName: string };
  range: { from?: string; to?: string; firstSeq: number; lastSeq: number; entries: number };
  entries: { file: string; format: ExportFormat; ocsfVersion?: string };
  coveringCheckpoint: number;
  hashing: Record<string, string>;
  requestedBy: Actor;
  files: Record<string, FileDigest>;
}

export interface ManifestSignature {
  keyName: string;
  keyVersion: number;
  /** Raw ed25519 signature over the bytes of manifest.json, base64. */
  signature: string;
}

export interface ExportSummary {
  manifest: EvidenceManifest;
  manifestSha256: string;
  /** The `export.created` entry that records this export. */
  recorded: LedgerEntry;
}

export interface PreparedExport {
  format: ExportFormat;
  firstSeq: number;
  lastSeq: number;
  checkpoint: Checkpoint;
  /** Writes every file into the sink, closes it, and records `export.created` in the ledger. */
  write(sink: EvidenceSink, requestedBy: Actor, options?: { onProgress?: (done: number, total: number) => void; requestId?: string }): Promise<ExportSummary>;
}

export interface EvidenceExportDeps {
  ledger: Ledger;
  signer: Pick<SecretStore, 'sign'>;
  keyName?: string;
}

const README = (m: Pick<EvidenceManifest, 'entries' | 'range' | 'ledger'>) => `Gatehouse evidence export

Entries ${m.range.firstSeq} to ${m.range.lastSeq} of the audit ledger ${m.ledger.origin}, in ${m.entries.file}.

How to check it without trusting Gatehouse (no database and no network needed):
  npx gatehouse audit verify-export <this folder or zip> [--keys keys.json obtained separately]

What the check does, so you can repeat it with your own tools:
1. manifest.json lists the SHA-256 of every file; manifest.sig.json is an Ed25519 signature over
   manifest.json by the ledger's signing key (public keys in keys.json: raw 32-byte keys, base64).
   Compare keys.json with /api/audit/keys of the Gatehouse you trust.
2. Each entry's hash is SHA-256(previous entry's hash as 32 bytes || the entry's RFC 8785
   canonical JSON without "hash" and "prevHash"); each entry's prevHash is the hash before it.
3. checkpoints.json holds signed tree heads (C2SP tlog-checkpoint text; Ed25519 over "body"), the
   consistency proofs between them (RFC 9162 section 2.1.4), and each as a C2SP signed note.
4. proofs.json proves the first and last entry are leaves of the covering checkpoint's tree
   (RFC 9162 section 2.1.3; leaf = SHA-256(0x00 || entry hash), node = SHA-256(0x01 || left || right)).
   Since every entry's hash commits to the one before it, the last entry's proof covers the range.
`;

export async function prepareEvidenceExport(deps: EvidenceExportDeps, input: ExportRequest): Promise<PreparedExport> {
  const parsed = exportRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(issue.path.join('.') || 'request', issue.message);
  }
  const request = parsed.data;
  const keyName = deps.keyName ?? LEDGER_KEY_NAME;
  const { ledger } = deps;

  let firstSeq: number;
  let lastSeq: number;
  if (request.fromSeq !== undefined || request.toSeq !== undefined) {
    const head = await ledger.head();
    firstSeq = request.fromSeq ?? 0;
    lastSeq = request.toSeq ?? head.size - 1;
    if (lastSeq >= head.size) throw invalid('toSeq', `the ledger has ${head.size} entries (0..${head.size - 1})`);
    if (firstSeq > lastSeq) throw new GatehouseError('not_found', 'the ledger has no entries in that range');
  } else {
    const range = await ledger.seqRangeOfTime(request.from, request.to);
    if (!range) throw new GatehouseError('not_found', `the ledger has no entries recorded ${request.from ? `from ${request.from}` : ''}${request.to ? ` before ${request.to}` : ''}`.trim());
    firstSeq = range.first;
    lastSeq = range.last;
  }

  // Every exported entry must be under a signed checkpoint: sign one now if the latest is older.
  let checkpoint = (await ledger.checkpoints({ fromSize: lastSeq + 1, limit: 1 }))[0];
  if (!checkpoint) {
    await ledger.checkpoint({ wait: true });
    checkpoint = (await ledger.checkpoints({ fromSize: lastSeq + 1, limit: 1 }))[0];
  }
  if (!checkpoint) throw new GatehouseError('internal', `no checkpoint covers entry ${lastSeq}`);
  const covering = checkpoint;

  return {
    format: request.format,
    firstSeq,
    lastSeq,
    checkpoint: covering,
    async write(sink, requestedBy, options = {}) {
      const total = lastSeq - firstSeq + 1;
      const entriesFile = entriesFileName(request.format);
      const files: Record<string, FileDigest> = {};

      files[entriesFile] = await sink.file(entriesFile, entryChunks(ledger, request.format, firstSeq, lastSeq, (done) => options.onProgress?.(done, total)));

      const inner = await ledger.checkpoints({ fromSize: firstSeq + 1, toSize: covering.treeSize });
      const keys = await ledger.publicKeys();
      const rawKey = (version: number) => Buffer.from(keys.find((k) => k.version === version)?.publicKey ?? '', 'base64');
      const proofs: Omit<ConsistencyProof, 'from' | 'to'>[] = [];
      for (let i = 1; i < inner.length; i++) {
        const { from: _f, to: _t, ...proof } = await ledger.proveConsistency(inner[i - 1]!.treeSize, inner[i]!.treeSize);
        proofs.push(proof);
      }
      files['checkpoints.json'] = await sink.file('checkpoints.json', [
        `${JSON.stringify({ checkpoints: inner.map((c) => ({ ...c, note: signedNote(c, rawKey(c.keyVersion)) })), consistency: proofs }, null, 2)}\n`,
      ]);
      const inclusion: Omit<InclusionProof, 'checkpoint'>[] = [];
      for (const seq of new Set([firstSeq, lastSeq])) {
        const { checkpoint: _c, ...proof } = await ledger.proveInclusion(seq, covering.treeSize);
        inclusion.push(proof);
      }
      files['proofs.json'] = await sink.file('proofs.json', [`${JSON.stringify({ treeSize: covering.treeSize, inclusion }, null, 2)}\n`]);
      files['keys.json'] = await sink.file('keys.json', [
        `${JSON.stringify({ keyName, origin: covering.origin, algorithm: 'ed25519', keys: keys.map((k) => ({ ...k, noteVerifierKey: noteVerifierKey(covering.origin, rawKey(k.version)) })) }, null, 2)}\n`,
      ]);
      const range = { ...(request.from ? { from: request.from } : {}), ...(request.to ? { to: request.to } : {}), firstSeq, lastSeq, entries: total };
      files['README.txt'] = await sink.file('README.txt', [README({ entries: { file: entriesFile, format: request.format }, range, ledger: { origin: covering.origin, keyName } })]);

      const manifest: EvidenceManifest = {
        format: EVIDENCE_FORMAT,
        createdAt: new Date().toISOString(),
        ledger: { origin: covering.origin, keyName },
        range,
        entries: { file: entriesFile, format: request.format, ...(request.format === 'ocsf' ? { ocsfVersion: OCSF_VERSION } : {}) },
        coveringCheckpoint: covering.treeSize,
        hashing: {
          entry: 'SHA-256(previous entry hash, 32 bytes || RFC 8785 canonical JSON of the entry without hash and prevHash); the first entry follows 32 zero bytes',
          tree: 'RFC 9162: leaf = SHA-256(0x00 || entry hash), node = SHA-256(0x01 || left || right)',
          checkpoint: 'C2SP tlog-checkpoint body (origin, tree size, base64 root, time), Ed25519',
          manifest: 'Ed25519 over the bytes of manifest.json, in manifest.sig.json',
        },
        requestedBy,
        files,
      };
      const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
      const manifestDigest = await sink.file('manifest.json', [manifestText]);
      const signature = await deps.signer.sign(keyName, Buffer.from(manifestText, 'utf8'));
      const sig: ManifestSignature = { keyName, keyVersion: signature.keyVersion, signature: signature.signature };
      await sink.file('manifest.sig.json', [`${JSON.stringify(sig, null, 2)}\n`]);
      // Recorded before the container is closed: a zip is unreadable without its closing
      // directory, so no usable export leaves without its ledger entry.
      const recorded = await ledger.append({
        action: 'export.created',
        actor: requestedBy,
        subject: { type: 'evidenceExport', id: manifestDigest.sha256 },
        details: { format: request.format, firstSeq, lastSeq, entries: total, ...(request.from ? { from: request.from } : {}), ...(request.to ? { to: request.to } : {}), coveringCheckpoint: covering.treeSize, manifestSha256: manifestDigest.sha256, host: hostname() },
        ...(options.requestId ? { correlation: { requestId: options.requestId } } : {}),
      });
      try {
        await sink.close();
      } catch (err) {
        await ledger.append({
          action: 'export.failed',
          actor: requestedBy,
          subject: { type: 'evidenceExport', id: manifestDigest.sha256 },
          details: { reason: (err as Error).message, recordedAs: recorded.seq },
          ...(options.requestId ? { correlation: { requestId: options.requestId } } : {}),
        });
        throw err;
      }
      return { manifest, manifestSha256: manifestDigest.sha256, recorded };
    },
  };
}

/** The entries file, page by page; refuses to export a ledger with a gap or a broken link. */
async function* entryChunks(ledger: Ledger, format: ExportFormat, firstSeq: number, lastSeq: number, progress: (done: number) => void): AsyncGenerator<string> {
  if (format === 'csv') yield stringify([[...CSV_COLUMNS]]);
  let expected = firstSeq;
  let prevHash: Buffer | undefined;
  for await (const page of ledger.readRaw(firstSeq, lastSeq + 1)) {
    const parts: string[] = [];
    const csvRows: string[][] = [];
    for (const row of page) {
      if (row.seq !== expected || (prevHash && !row.prevHash.equals(prevHash))) {
        throw new GatehouseError('internal', `the ledger is damaged at entry ${expected}: run \`gatehouse audit verify\` (nothing was recorded as exported)`);
      }
      const prev = row.prevHash.toString('hex');
      const hash = row.hash.toString('hex');
      if (format === 'jsonl') parts.push(jsonLine(row.entry, prev, hash));
      else if (format === 'csv') csvRows.push(csvRow(entryFromCanonical(row.entry, prev, hash), row.entry));
      else parts.push(`${JSON.stringify(toOcsf(entryFromCanonical(row.entry, prev, hash), row.entry))}\n`);
      prevHash = row.hash;
      expected++;
    }
    yield format === 'csv' ? stringify(csvRows) : parts.join('');
    progress(expected - firstSeq);
  }
  if (expected !== lastSeq + 1) throw new GatehouseError('internal', `the ledger is damaged at entry ${expected}: run \`gatehouse audit verify\``);
}
