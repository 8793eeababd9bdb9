// `gatehouse audit verify-export`: checks an evidence export (folder or zip) with node:crypto and
// the files themselves: no database, no network, no trust in Gatehouse beyond its public key.
// Every problem is named, with the first bad entry when an entry is the problem.
import { createHash, verify as edVerify } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import yauzl from 'yauzl';
import { GENESIS_HASH, canonicalize, chainHash, entryFromCanonical } from './ledger-entry-codec.js';
import type { LedgerEntry } from './ledger-types.js';
import { checkCheckpoint, ed25519PublicKey, type Checkpoint, type PublicKey } from './checkpoint-note.js';
import { leafHash, verifyConsistency, verifyInclusion } from './merkle.js';
import { CSV_COLUMNS, EVIDENCE_FORMAT, csvRow, type EvidenceManifest, type ManifestSignature } from './evidence-export.js';
import { toOcsf } from './ocsf.js';

export type EvidenceProblemKind =
  | 'file-missing'
  | 'file-changed'
  | 'file-unexpected'
  | 'manifest-malformed'
  | 'manifest-bad-signature'
  | 'key-not-trusted'
  | 'entry-malformed'
  | 'entry-altered'
  | 'entry-missing'
  | 'chain-broken'
  | 'entry-out-of-range'
  | 'rendering-changed'
  | 'checkpoint-malformed'
  | 'checkpoint-unknown-key'
  | 'checkpoint-bad-signature'
  | 'checkpoints-inconsistent'
  | 'inclusion-proof-invalid';

export interface EvidenceProblem {
  kind: EvidenceProblemKind;
  file?: string;
  seq?: number;
  message: string;
}

export interface EvidenceReport {
  ok: boolean;
  entries: number;
  range?: { firstSeq: number; lastSeq: number };
  coveringCheckpoint?: number;
  origin?: string;
  /** The keys the export was checked with (compare them with the ones you trust). */
  keys: { version: number; publicKey: string }[];
  firstBadSeq?: number;
  problems: EvidenceProblem[];
}

/** Read access to the export's files, whether a folder or a zip. */
interface EvidenceFiles {
  names: string[];
  stream(name: string): Promise<Readable>;
  close(): void;
}

async function openFolder(dir: string): Promise<EvidenceFiles> {
  return {
    names: readdirSync(dir).filter((n) => statSync(path.join(dir, n)).isFile()),
    stream: async (name) => createReadStream(path.join(dir, name)),
    close() {},
  };
}

async function openZip(file: string): Promise<EvidenceFiles> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.open(file, { lazyEntries: true, autoClose: false }, (err, z) => (err ? reject(err) : resolve(z))));
  const entries = new Map<string, yauzl.Entry>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      if (!entry.fileName.endsWith('/')) entries.set(entry.fileName, entry);
      zip.readEntry();
    });
    zip.once('end', resolve);
    zip.once('error', reject);
    zip.readEntry();
  });
  return {
    names: [...entries.keys()],
    stream: (name) =>
      new Promise((resolve, reject) => zip.openReadStream(entries.get(name)!, (err, s) => (err ? reject(err) : resolve(s)))),
    close: () => zip.close(),
  };
}

async function readAll(files: EvidenceFiles, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await files.stream(name)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function sha256Of(files: EvidenceFiles, name: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of await files.stream(name)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

const hexToBuf = (h: unknown) => (typeof h === 'string' && /^[0-9a-f]{64}$/.test(h) ? Buffer.from(h, 'hex') : undefined);

/** One entry as the file gives it: the entry, and the text its hash is checked against. */
interface ExportedEntry {
  line: number;
  entry?: LedgerEntry;
  canonical?: string;
  problem?: string;
  /** For CSV and OCSF: the readable form, to compare with the one rendered from the entry. */
  rendered?: string;
}

async function* jsonlEntries(stream: Readable): AsyncGenerator<ExportedEntry> {
  let line = 0;
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
    line++;
    if (!text) continue;
    try {
      const { hash, prevHash, ...rest } = JSON.parse(text) as Record<string, unknown>;
      // Every field other than the hashes is hashed, so an added field is a change too.
      const canonical = canonicalize(rest)!;
      yield { line, canonical, entry: { ...(rest as Omit<LedgerEntry, 'hash' | 'prevHash'>), hash: String(hash), prevHash: String(prevHash) } };
    } catch {
      yield { line, problem: 'is not a JSON object' };
    }
  }
}

async function* csvEntries(stream: Readable): AsyncGenerator<ExportedEntry> {
  let line = 0;
  for await (const record of stream.pipe(parseCsv({ relax_column_count: true })) as AsyncIterable<string[]>) {
    line++;
    if (line === 1) {
      if (record.join(',') !== CSV_COLUMNS.join(',')) yield { line, problem: `has the header ${record.join(',')}, not ${CSV_COLUMNS.join(',')}` };
      continue;
    }
    const canonical = record[CSV_COLUMNS.length - 1];
    try {
      const entry = entryFromCanonical(canonical!, record[CSV_COLUMNS.indexOf('prev_hash')]!, record[CSV_COLUMNS.indexOf('hash')]!);
      yield { line, canonical: canonicalize(JSON.parse(canonical!))!, entry, rendered: JSON.stringify(record) };
    } catch {
      yield { line, problem: 'has no readable entry column' };
    }
  }
}

async function* ocsfEntries(stream: Readable): AsyncGenerator<ExportedEntry> {
  let line = 0;
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
    line++;
    if (!text) continue;
    try {
      const event = JSON.parse(text) as { raw_data?: string; unmapped?: { gatehouse?: { prev_hash?: string; hash?: string } } };
      const g = event.unmapped?.gatehouse ?? {};
      const entry = entryFromCanonical(event.raw_data!, String(g.prev_hash), String(g.hash));
      yield { line, canonical: canonicalize(JSON.parse(event.raw_data!))!, entry, rendered: canonicalize(event)! };
    } catch {
      yield { line, problem: 'is not an OCSF event carrying a Gatehouse entry in raw_data' };
    }
  }
}

export async function verifyEvidence(location: string, options: { trustedKeys?: PublicKey[] } = {}): Promise<EvidenceReport> {
  const problems: EvidenceProblem[] = [];
  const report = (p: EvidenceProblem) => {
    if (problems.length < 100) problems.push(p);
  };
  const result: EvidenceReport = { ok: false, entries: 0, keys: [], problems };
  if (!existsSync(location)) {
    report({ kind: 'file-missing', message: `${location} does not exist` });
    return result;
  }
  const files = statSync(location).isDirectory() ? await openFolder(location) : await openZip(location);
  try {
    const has = (name: string) => files.names.includes(name);
    for (const required of ['manifest.json', 'manifest.sig.json', 'keys.json']) {
      if (!has(required)) report({ kind: 'file-missing', file: required, message: `${required} is missing` });
    }
    if (problems.length) return finish(result);

    // 1. The manifest: well formed, signed, and every file as it says.
    const manifestBytes = await readAll(files, 'manifest.json');
    let manifest: EvidenceManifest;
    let signature: ManifestSignature;
    let keyFile: { origin?: string; keys?: PublicKey[] };
    try {
      manifest = JSON.parse(manifestBytes.toString('utf8')) as EvidenceManifest;
      signature = JSON.parse((await readAll(files, 'manifest.sig.json')).toString('utf8')) as ManifestSignature;
      keyFile = JSON.parse((await readAll(files, 'keys.json')).toString('utf8')) as typeof keyFile;
      if (manifest.format !== EVIDENCE_FORMAT || typeof manifest.files !== 'object' || !manifest.range || !manifest.entries) throw new Error('not a manifest');
    } catch {
      report({ kind: 'manifest-malformed', file: 'manifest.json', message: `manifest.json, manifest.sig.json or keys.json is not what a ${EVIDENCE_FORMAT} export holds` });
      return finish(result);
    }
    const exportedKeys = (keyFile.keys ?? []).map((k) => ({ version: k.version, publicKey: k.publicKey }));
    const keys = options.trustedKeys ?? exportedKeys;
    result.keys = keys.map((k) => ({ version: k.version, publicKey: k.publicKey }));
    result.origin = manifest.ledger?.origin;
    if (options.trustedKeys) {
      for (const k of exportedKeys) {
        if (!options.trustedKeys.some((t) => t.version === k.version && t.publicKey === k.publicKey)) {
          report({ kind: 'key-not-trusted', file: 'keys.json', message: `keys.json holds key version ${k.version} (${k.publicKey}), which is not among the trusted keys` });
        }
      }
    }
    const manifestKey = ed25519PublicKey(keys.find((k) => k.version === signature.keyVersion)?.publicKey ?? '');
    if (!manifestKey || !edVerify(null, manifestBytes, manifestKey, Buffer.from(String(signature.signature), 'base64'))) {
      report({ kind: 'manifest-bad-signature', file: 'manifest.json', message: `manifest.json is not signed by the ledger key (version ${signature.keyVersion}): it was changed after the export was made` });
    }
    for (const [name, digest] of Object.entries(manifest.files)) {
      if (!has(name)) {
        report({ kind: 'file-missing', file: name, message: `${name} is listed in the manifest but missing` });
        continue;
      }
      const actual = await sha256Of(files, name);
      if (actual.sha256 !== digest.sha256) report({ kind: 'file-changed', file: name, message: `${name} was changed: its SHA-256 is ${actual.sha256}, the manifest says ${digest.sha256}` });
    }
    for (const name of files.names) {
      if (!(name in manifest.files) && name !== 'manifest.json' && name !== 'manifest.sig.json') {
        report({ kind: 'file-unexpected', file: name, message: `${name} is not part of the export (not in the manifest)` });
      }
    }

    // 2. Checkpoints: signatures, and each consistent with the next.
    const { firstSeq, lastSeq } = manifest.range;
    result.range = { firstSeq, lastSeq };
    result.coveringCheckpoint = manifest.coveringCheckpoint;
    let checkpoints: Checkpoint[] = [];
    let consistency: { fromSize: number; toSize: number; path: string[] }[] = [];
    let proofs: { treeSize: number; inclusion: { seq: number; treeSize: number; entryHash: string; leafHash: string; path: string[] }[] } = { treeSize: 0, inclusion: [] };
    try {
      ({ checkpoints, consistency } = JSON.parse((await readAll(files, 'checkpoints.json')).toString('utf8')) as { checkpoints: Checkpoint[]; consistency: typeof consistency });
      proofs = JSON.parse((await readAll(files, 'proofs.json')).toString('utf8')) as typeof proofs;
    } catch {
      report({ kind: 'manifest-malformed', file: 'checkpoints.json', message: 'checkpoints.json or proofs.json is missing or not JSON' });
    }
    for (const cp of checkpoints) {
      const problem = checkCheckpoint(cp, keys, manifest.ledger.origin);
      if (problem) report({ ...problem, file: 'checkpoints.json' });
    }
    for (let i = 1; i < checkpoints.length; i++) {
      const a = checkpoints[i - 1]!;
      const b = checkpoints[i]!;
      const proof = consistency.find((c) => c.fromSize === a.treeSize && c.toSize === b.treeSize);
      const ok = proof && verifyConsistency(a.treeSize, b.treeSize, Buffer.from(a.rootHash, 'hex'), Buffer.from(b.rootHash, 'hex'), proof.path.map((p) => Buffer.from(p, 'hex')));
      if (!ok) report({ kind: 'checkpoints-inconsistent', file: 'checkpoints.json', message: `the checkpoint at tree size ${a.treeSize} is not proven to be a prefix of the one at ${b.treeSize}` });
    }
    const covering = checkpoints.find((c) => c.treeSize === manifest.coveringCheckpoint);
    if (!covering || covering.treeSize <= lastSeq) {
      report({ kind: 'checkpoint-malformed', file: 'checkpoints.json', message: `no checkpoint in the export covers entry ${lastSeq}` });
    }

    // 3. Entries: canonical, chained, contiguous, in range; CSV and OCSF as rendered from them.
    const entriesFile = manifest.entries.file;
    const hashes = new Map<number, Buffer>();
    if (has(entriesFile)) {
      const stream = await files.stream(entriesFile);
      const source = manifest.entries.format === 'csv' ? csvEntries(stream) : manifest.entries.format === 'ocsf' ? ocsfEntries(stream) : jsonlEntries(stream);
      let expected = firstSeq;
      let prev: Buffer | undefined;
      let lastTime = '';
      for await (const item of source) {
        const at = `${entriesFile} line ${item.line}`;
        if (!item.entry || !item.canonical) {
          report({ kind: 'entry-malformed', file: entriesFile, seq: expected, message: `${at} ${item.problem ?? 'is not an entry'}` });
          expected++;
          continue;
        }
        const e = item.entry;
        result.entries++;
        const gap = e.seq !== expected;
        if (gap) {
          if (typeof e.seq === 'number' && e.seq > expected) {
            report({ kind: 'entry-missing', file: entriesFile, seq: expected, message: `${at}: ${e.seq - expected === 1 ? `entry ${expected} is` : `entries ${expected}..${e.seq - 1} are`} missing` });
          } else report({ kind: 'entry-out-of-range', file: entriesFile, seq: expected, message: `${at} is entry ${String(e.seq)} where entry ${expected} belongs` });
        }
        const stored = hexToBuf(e.hash);
        const prevHash = hexToBuf(e.prevHash);
        const computed = prevHash ? chainHash(prevHash, item.canonical) : undefined;
        if (!stored || !computed || !computed.equals(stored)) {
          report({ kind: 'entry-altered', file: entriesFile, seq: e.seq ?? expected, message: `entry ${e.seq ?? expected} (${at}) was changed: it no longer hashes to its hash` });
        } else if (!gap && (prev ? !prevHash!.equals(prev) : firstSeq === 0 && !prevHash!.equals(GENESIS_HASH))) {
          report({ kind: 'chain-broken', file: entriesFile, seq: e.seq, message: `entry ${e.seq} (${at}) does not link to the entry before it` });
        }
        if (item.rendered !== undefined && computed && stored && computed.equals(stored)) {
          const expectedRendering = manifest.entries.format === 'csv' ? JSON.stringify(csvRow(e, item.canonical)) : canonicalize(toOcsf(e, item.canonical))!;
          const earlierRendering = manifest.entries.format === 'csv' ? JSON.stringify(csvRow(e, item.canonical, { plain: true })) : expectedRendering;
          if (expectedRendering !== item.rendered && earlierRendering !== item.rendered) {
            report({ kind: 'rendering-changed', file: entriesFile, seq: e.seq, message: `entry ${e.seq} (${at}): the ${manifest.entries.format.toUpperCase()} fields were changed and no longer say what the hashed entry says` });
          }
        }
        const inRange = (!manifest.range.from || e.timestamp >= new Date(manifest.range.from).toISOString()) && (!manifest.range.to || e.timestamp < new Date(manifest.range.to).toISOString());
        if (!inRange || e.timestamp < lastTime) {
          report({ kind: 'entry-out-of-range', file: entriesFile, seq: e.seq, message: `entry ${e.seq} (${at}) has time ${e.timestamp}, outside the export's range or earlier than the entry before` });
        }
        lastTime = e.timestamp;
        if (stored) hashes.set(e.seq, stored);
        prev = stored;
        expected = (typeof e.seq === 'number' ? e.seq : expected) + 1;
      }
      if (expected !== lastSeq + 1) report({ kind: 'entry-missing', file: entriesFile, seq: expected, message: `${entriesFile} ends at entry ${expected - 1}; the manifest says it runs to ${lastSeq}` });
    }

    // 4. The first and last entry are leaves of the covering checkpoint's tree.
    for (const seq of new Set([firstSeq, lastSeq])) {
      const proof = proofs.inclusion.find((p) => p.seq === seq);
      const hash = hashes.get(seq);
      const ok =
        proof &&
        covering &&
        hash &&
        proof.treeSize === covering.treeSize &&
        proof.entryHash === hash.toString('hex') &&
        verifyInclusion(seq, covering.treeSize, leafHash(hash), proof.path.map((p) => Buffer.from(p, 'hex')), Buffer.from(covering.rootHash, 'hex'));
      if (!ok) report({ kind: 'inclusion-proof-invalid', file: 'proofs.json', seq, message: `entry ${seq} is not proven to be in the signed checkpoint at tree size ${covering?.treeSize ?? '?'}` });
    }
    return finish(result);
  } finally {
    files.close();
  }
}

function finish(result: EvidenceReport): EvidenceReport {
  const located = result.problems.filter((p) => p.seq !== undefined && p.kind !== 'inclusion-proof-invalid').map((p) => p.seq!);
  result.ok = result.problems.length === 0;
  if (located.length) result.firstBadSeq = Math.min(...located);
  return result;
}
