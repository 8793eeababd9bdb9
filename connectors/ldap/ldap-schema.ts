// Reads the directory's own schema (the subschema subentry, RFC 4512 §4.2) into the SPI's attribute
// descriptions: which attributes an account's object classes require and allow, whether each is
// single-valued, and its syntax. Definitions are parsed by a small tokenizer for RFC 4512 §4.1.
import type { AttributeInfo } from '../spi/objects.js';

export interface SchemaDefinition {
  oid: string;
  names: string[];
  fields: Map<string, string[] | true>;
}

const FLAGS = new Set(['SINGLE-VALUE', 'NO-USER-MODIFICATION', 'OBSOLETE', 'COLLECTIVE', 'ABSTRACT', 'STRUCTURAL', 'AUXILIARY']);

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /\s*(?:(\()|(\))|(\$)|'((?:[^'\\]|\\.)*)'|([^\s()$']+))/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < text.length && (m = re.exec(text))) {
    if (m[1] || m[2] || m[3]) tokens.push((m[1] ?? m[2] ?? m[3])!);
    else if (m[4] !== undefined) tokens.push(`'${m[4]}`);
    else if (m[5]) tokens.push(m[5]);
  }
  return tokens;
}

/** Parses one `( oid NAME 'x' ... )` definition. */
export function parseDefinition(text: string): SchemaDefinition | undefined {
  const t = tokenize(text);
  if (t[0] !== '(' || t.length < 3) return undefined;
  const oid = t[1]!;
  const fields = new Map<string, string[] | true>();
  let i = 2;
  const value = (): string[] => {
    const tok = t[i++]!;
    if (tok !== '(') return [tok.replace(/^'/, '')];
    const out: string[] = [];
    while (i < t.length && t[i] !== ')') {
      const v = t[i++]!;
      if (v !== '$') out.push(v.replace(/^'/, ''));
    }
    i++;
    return out;
  };
  while (i < t.length && t[i] !== ')') {
    const keyword = t[i++]!;
    if (FLAGS.has(keyword)) fields.set(keyword, true);
    else fields.set(keyword, value());
  }
  const names = fields.get('NAME');
  return { oid, names: Array.isArray(names) ? names : [], fields };
}

const SYNTAX_TYPES: Record<string, AttributeInfo['type']> = {
  '1.3.6.1.4.1.1466.115.121.1.27': 'integer',
  '1.3.6.1.4.1.1466.115.121.1.7': 'boolean',
  '1.3.6.1.4.1.1466.115.121.1.24': 'datetime',
  '1.3.6.1.4.1.1466.115.121.1.12': 'dn',
  '1.3.6.1.4.1.1466.115.121.1.5': 'binary',
  '1.3.6.1.4.1.1466.115.121.1.8': 'binary',
  '1.3.6.1.4.1.1466.115.121.1.28': 'binary',
  '1.3.6.1.4.1.1466.115.121.1.40': 'binary',
};

const list = (f: string[] | true | undefined): string[] => (Array.isArray(f) ? f : []);

/**
 * The attributes of objects of the given classes (with their superclasses): required ones from
 * MUST, the rest from MAY; single-valuedness and syntax inherited along attribute SUP chains.
 */
export function attributesOf(objectClasses: string[], classDefs: SchemaDefinition[], attributeDefs: SchemaDefinition[], hidden: Set<string>): AttributeInfo[] {
  const lower = (s: string) => s.toLowerCase();
  const classByName = new Map<string, SchemaDefinition>();
  for (const d of classDefs) for (const n of d.names) classByName.set(lower(n), d);
  const attrByName = new Map<string, SchemaDefinition>();
  for (const d of attributeDefs) for (const n of d.names) attrByName.set(lower(n), d);

  const must = new Map<string, string>();
  const may = new Map<string, string>();
  const seen = new Set<string>();
  const visit = (name: string) => {
    const d = classByName.get(lower(name));
    if (!d || seen.has(d.oid)) return;
    seen.add(d.oid);
    for (const a of list(d.fields.get('MUST'))) must.set(lower(a), a);
    for (const a of list(d.fields.get('MAY'))) may.set(lower(a), a);
    for (const sup of list(d.fields.get('SUP'))) visit(sup);
  };
  objectClasses.forEach(visit);

  const inherited = (d: SchemaDefinition | undefined, field: string, depth = 0): string[] | true | undefined => {
    if (!d || depth > 10) return undefined;
    const own = d.fields.get(field);
    if (own !== undefined) return own;
    return inherited(attrByName.get(lower(list(d.fields.get('SUP'))[0] ?? '')), field, depth + 1);
  };

  const out: AttributeInfo[] = [];
  for (const [key, name] of [...must, ...[...may].filter(([k]) => !must.has(k))]) {
    if (key === 'objectclass' || hidden.has(key)) continue;
    const d = attrByName.get(key);
    const syntax = list(inherited(d, 'SYNTAX'))[0]?.replace(/\{\d+\}$/, '') ?? '';
    out.push({
      name: d?.names[0] ?? name,
      type: SYNTAX_TYPES[syntax] ?? 'string',
      multiValued: inherited(d, 'SINGLE-VALUE') !== true,
      required: must.has(key),
      updatable: d?.fields.get('NO-USER-MODIFICATION') !== true,
      ...(d?.fields.get('DESC') ? { description: list(d.fields.get('DESC'))[0]! } : {}),
    });
  }
  return out;
}
