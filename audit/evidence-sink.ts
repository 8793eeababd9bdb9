// Where an evidence export is written: a new folder, or a zip streamed to a file or an HTTP
// response. Each file is written from chunks with backpressure and hashed (SHA-256) on the way, so
// the manifest can list every file's digest without reading anything back.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { once } from 'node:events';
import yazl from 'yazl';
import { invalid } from '../shared/errors.js';

export interface FileDigest {
  sha256: string;
  bytes: number;
}

export type Chunks = AsyncIterable<string | Buffer> | Iterable<string | Buffer>;

export interface EvidenceSink {
  /** Writes one file, in full, before the next; resolves with its digest. */
  file(name: string, chunks: Chunks): Promise<FileDigest>;
  /** Completes the folder or zip. */
  close(): Promise<void>;
}

/** Writes chunks with backpressure, hashing them; ends the stream. */
async function pump(out: Writable, chunks: Chunks): Promise<FileDigest> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of chunks) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (!buf.length) continue;
    hash.update(buf);
    bytes += buf.length;
    if (!out.write(buf)) await once(out, 'drain');
  }
  out.end();
  return { sha256: hash.digest('hex'), bytes };
}

/** A folder that must not exist yet, or be empty: an export never mixes with other files. */
export function folderSink(dir: string): EvidenceSink {
  if (existsSync(dir) && readdirSync(dir).length) throw invalid('out', `${dir} exists and is not empty; choose a new folder`);
  mkdirSync(dir, { recursive: true });
  return {
    async file(name, chunks) {
      const out = createWriteStream(path.join(dir, name), { flags: 'wx', mode: 0o644 });
      const done = once(out, 'finish');
      const digest = await pump(out, chunks);
      await done;
      return digest;
    },
    async close() {},
  };
}

/** A zip written to `out` as it is produced (deflated, zip64 when large). */
export function zipSink(out: Writable): EvidenceSink {
  const zip = new yazl.ZipFile();
  // Done only when every byte was handed on; a connection closed early is a failed export.
  const finished = new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.once('finish', resolve);
    out.once('close', () => (out.writableFinished ? resolve() : reject(new Error('the export was not delivered: the connection closed before the end'))));
  });
  finished.catch(() => undefined);
  zip.outputStream.pipe(out);
  const mtime = new Date();
  return {
    async file(name, chunks) {
      const pass = new PassThrough();
      zip.addReadStream(pass, name, { mtime, mode: 0o100644 });
      return pump(pass, chunks);
    },
    async close() {
      zip.end();
      await finished;
    },
  };
}
