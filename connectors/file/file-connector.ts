// A file source for sync flows: CSV and JSON Lines exports in one folder, each file an object class
// (HR systems still send files). Read only. A file is parsed once per version of it (its size, time
// and inode) and kept while the connector is open; pages are then cut from it in order: by the cursor
// field then the key for an incremental class, by the key for a snapshot. Positions are values, not
// line numbers, so a file replaced between two pages neither skips nor repeats a record it kept.
// Values compare as numbers when both are numbers, otherwise as text.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseCsv } from 'csv-parse';
import type { Capability, Connector } from '../spi/connector.js';
import { Rejected, UnknownUid } from '../spi/errors.js';
import type { JsonValue, ObjectBatch, ObjectClassInfo, ObjectReadRequest, ObjectRecord } from '../spi/records.js';
import type { FileConfig, FileObjectClassConfig } from './file-config.js';

export const CONNECTOR_CAPABILITIES: Capability[] = ['readObjects'];

interface Parsed {
  version: string;
  records: ObjectRecord[];
  fields: string[];
}

interface Position {
  v: 1;
  c: string;
  /** The sort values of the last record read (cursor field then key, or the key), or null: from the start. */
  after: JsonValue[] | null;
}

const encode = (p: Position) => Buffer.from(JSON.stringify(p)).toString('base64url');

function decode(cursor: string, objectClass: string): Position {
  try {
    const p = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Position;
    if (p.v === 1 && p.c === objectClass && (p.after === null || Array.isArray(p.after))) return p;
  } catch {
    // falls through to the refusal
  }
  throw new Rejected(`the cursor is not a position in object class ${objectClass}`);
}

function compareValue(a: JsonValue | undefined, b: JsonValue | undefined): number {
  const num = (v: JsonValue | undefined) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
  const [x, y] = [num(a), num(b)];
  if (x !== undefined && y !== undefined) return x - y;
  const [s, t] = [a === undefined || a === null ? '' : typeof a === 'string' ? a : JSON.stringify(a), b === undefined || b === null ? '' : typeof b === 'string' ? b : JSON.stringify(b)];
  return s < t ? -1 : s > t ? 1 : 0;
}

const compareTuple = (a: JsonValue[], b: JsonValue[]) => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = compareValue(a[i], b[i]);
    if (d) return d;
  }
  return 0;
};

export function createFileConnector(config: FileConfig, label: string): Connector & {
  objectClasses(): Promise<ObjectClassInfo[]>;
  readObjects(objectClass: string, request?: ObjectReadRequest): AsyncIterable<ObjectBatch>;
  getObjects(objectClass: string, keys: ObjectRecord[]): Promise<ObjectRecord[]>;
} {
  const classes = new Map(config.objectClasses.map((c) => [c.name, c]));
  const cache = new Map<string, Parsed>();

  function classOf(name: string): FileObjectClassConfig {
    const cls = classes.get(name);
    if (!cls) throw new UnknownUid(`connector ${label} has no object class ${name}`);
    return cls;
  }

  /** The file's real path, refused when it (or a link on the way) leads out of the folder. */
  async function locate(cls: FileObjectClassConfig): Promise<string> {
    let folder: string;
    let file: string;
    try {
      folder = await realpath(config.directory);
      file = await realpath(path.join(folder, cls.path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Rejected(`object class ${cls.name}: there is no file ${cls.path} in ${config.directory}`, { details: { errno: code } });
      if (code === 'EACCES') throw new Rejected(`object class ${cls.name}: the worker may not read ${cls.path} in ${config.directory}`, { details: { errno: code } });
      throw err;
    }
    if (!file.startsWith(folder + path.sep)) throw new Rejected(`object class ${cls.name}: ${cls.path} leads outside ${config.directory}; a file connector reads only inside its folder`);
    return file;
  }

  async function load(cls: FileObjectClassConfig): Promise<Parsed> {
    const file = await locate(cls);
    const info = await stat(file);
    if (!info.isFile()) throw new Rejected(`object class ${cls.name}: ${cls.path} is not a file`);
    if (info.size > config.maxFileBytes) throw new Rejected(`object class ${cls.name}: ${cls.path} is ${info.size} bytes, more than maxFileBytes (${config.maxFileBytes})`);
    const version = `${info.ino}:${info.size}:${info.mtimeMs}`;
    const cached = cache.get(cls.name);
    if (cached?.version === version) return cached;
    const { records, fields } = cls.format === 'csv' ? await readCsv(file, cls) : await readJsonLines(file, cls);
    for (const [i, r] of records.entries()) {
      const missing = cls.key.filter((k) => r[k] === undefined || r[k] === null || r[k] === '');
      // A record's values are data (maybe pii): the refusal names the line and the field, never the value.
      if (missing.length) throw new Rejected(`object class ${cls.name}: record ${i + 1} of ${cls.path} has no ${missing.join(', ')} (its key)`);
      if (cls.cursor && (r[cls.cursor] === undefined || r[cls.cursor] === null || r[cls.cursor] === '')) throw new Rejected(`object class ${cls.name}: record ${i + 1} of ${cls.path} has no ${cls.cursor} (its cursor)`);
    }
    const order = (r: ObjectRecord) => [...(cls.cursor ? [r[cls.cursor]!] : []), ...cls.key.map((k) => r[k]!)];
    records.sort((a, b) => compareTuple(order(a), order(b)));
    const parsed = { version, records, fields };
    cache.set(cls.name, parsed);
    return parsed;
  }

  return {
    type: 'file',
    capabilities: new Set(CONNECTOR_CAPABILITIES),
    async close() {
      cache.clear();
    },

    async objectClasses() {
      const out: ObjectClassInfo[] = [];
      for (const cls of config.objectClasses) {
        const { fields } = await load(cls);
        for (const k of [...cls.key, ...(cls.cursor ? [cls.cursor] : [])]) {
          if (!fields.includes(k)) throw new Rejected(`object class ${cls.name}: ${cls.path} has no field ${k}`);
        }
        out.push({
          name: cls.name,
          source: path.join(config.directory, cls.path),
          kind: cls.kind,
          key: cls.key,
          ...(cls.cursor ? { cursor: cls.cursor } : {}),
          writable: false,
          fields: fields.map((f) => ({ name: f, type: cls.format === 'csv' ? ('string' as const) : ('json' as const), nullable: !cls.key.includes(f), writable: false })),
        });
      }
      return out;
    },

    async *readObjects(objectClass, request = {}) {
      const cls = classOf(objectClass);
      const pageSize = request.pageSize ?? 500;
      let position: Position = request.cursor ? decode(request.cursor, objectClass) : { v: 1, c: objectClass, after: null };
      const { records } = await load(cls);
      const order = (r: ObjectRecord) => [...(cls.cursor ? [r[cls.cursor]!] : []), ...cls.key.map((k) => r[k]!)];
      let start = 0;
      if (position.after) {
        // The first record after the position: a binary search over the sorted records.
        let [lo, hi] = [0, records.length];
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (compareTuple(order(records[mid]!), position.after) <= 0) lo = mid + 1;
          else hi = mid;
        }
        start = lo;
      }
      for (;;) {
        const page = records.slice(start, start + pageSize);
        start += page.length;
        const complete = start >= records.length;
        if (page.length) position = { v: 1, c: objectClass, after: order(page.at(-1)!) };
        // A snapshot that reached its end starts the next pass from the beginning.
        const next: Position = complete && !cls.cursor ? { v: 1, c: objectClass, after: null } : position;
        yield { records: page, cursor: encode(next), complete };
        if (complete) return;
      }
    },

    async getObjects(objectClass, keys) {
      const cls = classOf(objectClass);
      const { records } = await load(cls);
      const wanted = new Set(keys.map((k) => JSON.stringify(cls.key.map((f) => String(k[f] ?? '')))));
      return records.filter((r) => wanted.has(JSON.stringify(cls.key.map((f) => String(r[f] ?? '')))));
    },
  };
}

/** A CSV file with a header row; empty cells are null. Parsed by csv-parse (quoting, escapes, CRLF). */
async function readCsv(file: string, cls: FileObjectClassConfig): Promise<{ records: ObjectRecord[]; fields: string[] }> {
  const records: ObjectRecord[] = [];
  let fields: string[] = [];
  const parser = createReadStream(file).pipe(
    parseCsv({
      delimiter: cls.delimiter,
      bom: true,
      columns: (header: string[]) => {
        fields = header.map((h) => h.trim());
        return fields;
      },
      skip_empty_lines: true,
      trim: false,
    }),
  );
  try {
    for await (const row of parser as AsyncIterable<Record<string, string>>) {
      records.push(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === '' ? null : v])));
    }
  } catch (err) {
    // csv-parse's messages name the line and the problem; they do not quote the record.
    throw new Rejected(`object class ${cls.name}: ${cls.path} is not valid CSV: ${(err as Error).message}`, { details: { code: String((err as { code?: string }).code ?? '') } });
  }
  return { records, fields };
}

/** One JSON object per line; blank lines are skipped. */
async function readJsonLines(file: string, cls: FileObjectClassConfig): Promise<{ records: ObjectRecord[]; fields: string[] }> {
  const records: ObjectRecord[] = [];
  const fields = new Set<string>();
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    line++;
    if (!text.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new Rejected(`object class ${cls.name}: line ${line} of ${cls.path} is not JSON`);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Rejected(`object class ${cls.name}: line ${line} of ${cls.path} is not a JSON object`);
    for (const k of Object.keys(value)) fields.add(k);
    records.push(value as ObjectRecord);
  }
  return { records, fields: [...fields] };
}
