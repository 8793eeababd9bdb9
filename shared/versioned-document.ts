// Documents people write as YAML (or JSON) and Gatehouse versions by meaning, such as access policies
// and sync flows: parsed with the YAML library (aliases bounded), checked against their schema with
// the first problem named by its path in the document, and hashed over their RFC 8785 canonical JSON,
// so formatting and comments never change a version.
import { createHash } from 'node:crypto';
import type { YAMLParseError } from 'yaml';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import { invalid } from './errors.js';

function issuePath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('') || 'document';
}

export function parseVersionedDocument<S extends z.ZodType>(text: string, schema: S): z.output<S> {
  if (text.length > 1_000_000) throw invalid('document', 'is larger than 1 MB');
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    const e = err as YAMLParseError;
    const where = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    throw invalid('document', `is not valid YAML${where}: ${e.message.split('\n')[0]}`);
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw invalid(issuePath(issue.path), issue.message);
  }
  return result.data;
}

/** SHA-256 (hex) of the document's canonical JSON (RFC 8785). */
export function documentVersionHash(document: unknown): string {
  return createHash('sha256').update(canonicalJson(document)).digest('hex');
}
