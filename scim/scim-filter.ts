// SCIM filters (RFC 7644 section 3.4.2.2) parsed into a typed tree whose every attribute is resolved
// against the schema. The grammar (precedence, grouping, not) is scim2-parse-filter's parser; the
// tokens it reads are ours, because its tokenizer gets these wrong (tests pin each one):
//  - string escapes: `"a\\b"` becomes `a\\b`, `\n` and `\u00e9` stay literal, `"a\\"` fails;
//  - its string pattern backtracks exponentially on an unterminated string of newlines (ReDoS);
//  - Entra's `emails[type eq "work"].value eq "x"` becomes two conditions that may hold on
//    different emails; here it becomes `emails[type eq "work" and value eq "x"]` (same element);
//  - `1e400` parses to Infinity.
import { Tokens, parseFilter as parseTokens, type Token } from 'scim2-parse-filter/lib/src/parser.js';
import type { Filter as LibFilter } from 'scim2-parse-filter';
import { invalidFilter } from './scim-errors.js';
import { PathError, resolveAttributePath, resolveSubAttribute, type AttrRef } from './scim-attribute-path.js';
import { findAttribute, type AttributeDef, type ResourceTypeDef } from './scim-schema.js';
import { isWellFormed, parseDateTime } from './scim-values.js';

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

/**
 * A filter whose attributes are resolved and whose values are typed. dateTime values are epoch
 * milliseconds (a finer fraction is folded into the operator, see normalizeTime). An attribute ref
 * on a multi-valued attribute matches when any of its values matches; inside a valuePath, refs name
 * sub-attributes of the same element.
 */
export type FilterNode =
  | { kind: 'and' | 'or'; children: FilterNode[] }
  | { kind: 'not'; child: FilterNode }
  | { kind: 'const'; value: boolean }
  | { kind: 'compare'; ref: AttrRef; op: CompareOp; value: string | boolean | number }
  | { kind: 'present'; ref: AttrRef }
  | { kind: 'valuePath'; ref: AttrRef; filter: FilterNode };

export interface FilterLimits {
  /** Characters in the filter text. */
  maxLength: number;
  /** Nodes in the parsed tree (comparisons, and/or/not, value paths). */
  maxNodes: number;
  /** Nesting of parentheses and brackets. */
  maxDepth: number;
}

export const DEFAULT_FILTER_LIMITS: FilterLimits = { maxLength: 4096, maxNodes: 64, maxDepth: 12 };

const COMPARE_OPS = new Set<string>(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WORD = /[A-Za-z_$][A-Za-z0-9_.:$-]*/y;
const DELIMITERS = new Set([' ', '\t', '\r', '\n', ')', ']', '(', '[']);

/** Tokens in the shape scim2-parse-filter's parser reads; string literals are valid JSON. */
export function tokenizeFilter(text: string, maxDepth: number): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  let i = 0;
  const push = (type: Token['type'], literal: string) => tokens.push({ type, literal });
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '(' || c === '[') {
      if (++depth > maxDepth) throw invalidFilter(`nested deeper than ${maxDepth} levels`);
      push('Bracket', c);
      i++;
    } else if (c === ')' || c === ']') {
      depth--;
      if (c === ']' && text[i + 1] === '.') {
        push('Bracket', '].');
        i += 2;
      } else {
        push('Bracket', c);
        i++;
      }
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        const ch = text[j]!;
        if (ch < ' ') throw invalidFilter(`control character at position ${j + 1} inside a string; escape it`);
        if (ch === '\\') {
          const next = text[j + 1];
          if (next === 'u') {
            if (!/^[0-9A-Fa-f]{4}$/.test(text.slice(j + 2, j + 6))) throw invalidFilter(`bad \\u escape at position ${j + 1}`);
            j += 5;
          } else if (next !== undefined && '"\\/bfnrt'.includes(next)) {
            j += 1;
          } else {
            throw invalidFilter(`bad escape at position ${j + 1}`);
          }
        }
      }
      if (j >= text.length) throw invalidFilter(`unterminated string starting at position ${i + 1}`);
      push('Quoted', text.slice(i, j + 1));
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      const end = m ? i + m[0].length : i;
      if (!m || (end < text.length && !DELIMITERS.has(text[end]!))) throw invalidFilter(`bad number at position ${i + 1}`);
      push('Number', m[0]);
      i = end;
    } else {
      WORD.lastIndex = i;
      const m = WORD.exec(text);
      if (!m) throw invalidFilter(`unexpected character ${JSON.stringify(c)} at position ${i + 1}`);
      push('Word', m[0]);
      i += m[0].length;
    }
  }
  return rewriteSubAttributeAfterValuePath(tokens);
}

/**
 * `attr[F].sub op v` becomes `attr[(F) and sub op v]`: Entra's form means both conditions on the
 * same value (RFC 7644's valuePath grammar has no trailing sub-attribute in filters).
 */
function rewriteSubAttributeAfterValuePath(tokens: Token[]): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type !== 'Bracket' || t.literal !== '].') {
      out.push(t);
      continue;
    }
    const open = out.map((x) => x.literal).lastIndexOf('[');
    const sub = tokens[i + 1];
    const op = tokens[i + 2];
    if (open < 0 || !sub || sub.type !== 'Word' || sub.literal.includes('.') || !op || op.type !== 'Word') {
      throw invalidFilter('a value path like emails[type eq "work"] may be followed only by .subAttribute and a comparison');
    }
    const opName = op.literal.toLowerCase();
    const hasValue = COMPARE_OPS.has(opName);
    if (!hasValue && opName !== 'pr') throw invalidFilter(`unknown operator ${op.literal} after ${sub.literal}`);
    const value = tokens[i + 3];
    if (hasValue && !value) throw invalidFilter(`missing value after ${sub.literal} ${op.literal}`);
    out.splice(open + 1, 0, { type: 'Bracket', literal: '(' });
    out.push({ type: 'Bracket', literal: ')' }, { type: 'Word', literal: 'and' }, sub, op);
    if (hasValue) out.push(value!);
    out.push({ type: 'Bracket', literal: ']' });
    i += hasValue ? 3 : 2;
  }
  return out;
}

function countNodes(f: LibFilter): number {
  switch (f.op) {
    case 'and':
    case 'or':
      return 1 + f.filters.reduce((n, c) => n + countNodes(c), 0);
    case 'not':
      return 1 + countNodes(f.filter);
    case '[]':
      return 1 + countNodes(f.valFilter);
    default:
      return 1;
  }
}

/** Attributes whose values Gatehouse computes at read time and which filters cannot reach. */
function notFilterable(ref: AttrRef): boolean {
  const leaf = ref.sub ?? ref.attr;
  if (leaf.returned === 'never') return true;
  if (ref.container.kind === 'common' && ref.attr.name === 'meta') return leaf.name === 'location' || leaf.name === 'version';
  return leaf.name === '$ref' && (ref.attr.name === 'groups' || ref.attr.name === 'members');
}

function resolveRef(rt: ResourceTypeDef, path: string, parent: AttrRef | undefined): AttrRef {
  try {
    if (parent) return resolveSubAttribute(parent, path);
    const resolved = resolveAttributePath(rt, path);
    if (resolved.kind !== 'attribute') throw new PathError(`"${path}" is a schema, not an attribute`);
    return resolved.ref;
  } catch (err) {
    if (err instanceof PathError) throw invalidFilter(err.message);
    throw err;
  }
}

/** A complex attribute compared directly means its `value` sub-attribute (`emails eq "x"`). */
function comparable(ref: AttrRef): AttrRef {
  if (ref.sub || ref.attr.type !== 'complex') return ref;
  const value = ref.attr.multiValued ? findAttribute(ref.attr.subAttributes, 'value') : undefined;
  if (!value) throw invalidFilter(`${ref.path} is complex; compare one of its sub-attributes, e.g. ${ref.path}.${ref.attr.subAttributes![0]!.name}`);
  return { ...ref, sub: value, path: `${ref.path}.value` };
}

function checkString(value: string, path: string): string {
  if (!isWellFormed(value)) throw invalidFilter(`the value compared with ${path} is not valid Unicode`);
  if (value.includes('\u0000')) throw invalidFilter(`the value compared with ${path} contains a NUL character`);
  return value;
}

/**
 * Folds a dateTime with sub-millisecond digits into the operator, so SQL and the in-memory evaluator
 * compare the same millisecond values: stored times have millisecond precision.
 */
function normalizeTime(op: CompareOp, ms: number, finer: boolean): FilterNode | { op: CompareOp; value: number } {
  if (!finer) return { op, value: ms };
  switch (op) {
    case 'eq':
      return { kind: 'const', value: false };
    case 'ne':
      return { kind: 'const', value: true };
    case 'gt':
    case 'ge':
      return { op: 'gt', value: ms };
    case 'lt':
    case 'le':
      return { op: 'le', value: ms };
    default:
      return { op, value: ms };
  }
}

function typedCompare(ref: AttrRef, op: CompareOp, raw: unknown): FilterNode {
  const leaf: AttributeDef = ref.sub ?? ref.attr;
  const path = ref.path;
  if (raw === null) throw invalidFilter(`${path} ${op} null: use "${path} pr" or "not (${path} pr)" to test for a value`);
  switch (leaf.type) {
    case 'boolean': {
      if (op !== 'eq' && op !== 'ne') throw invalidFilter(`${path} is boolean: only eq and ne apply, not ${op}`);
      let value = raw;
      if (typeof raw === 'string' && /^(true|false)$/i.test(raw)) value = raw.toLowerCase() === 'true';
      if (typeof value !== 'boolean') throw invalidFilter(`${path} is boolean: compare it with true or false`);
      return { kind: 'compare', ref, op, value };
    }
    case 'dateTime': {
      if (op === 'co' || op === 'sw' || op === 'ew') throw invalidFilter(`${path} is a dateTime: use eq, ne, gt, ge, lt or le`);
      if (typeof raw !== 'string') throw invalidFilter(`${path} is a dateTime: compare it with a quoted ISO 8601 time like "2026-01-31T12:00:00Z"`);
      const t = parseDateTime(raw);
      if (!t) throw invalidFilter(`"${raw}" is not an ISO 8601 time with a time zone, like "2026-01-31T12:00:00Z"`);
      const n = normalizeTime(op, t.ms, t.finerThanMs);
      return 'kind' in n ? n : { kind: 'compare', ref, op: n.op, value: n.value };
    }
    case 'integer':
    case 'decimal': {
      if (op === 'co' || op === 'sw' || op === 'ew') throw invalidFilter(`${path} is a number: use eq, ne, gt, ge, lt or le`);
      if (typeof raw !== 'number' || !Number.isFinite(raw)) throw invalidFilter(`${path} is a number: compare it with a finite number`);
      return { kind: 'compare', ref, op, value: raw };
    }
    case 'binary':
      if (op !== 'eq' && op !== 'ne') throw invalidFilter(`${path} is binary: only eq and ne apply, not ${op}`);
      if (typeof raw !== 'string') throw invalidFilter(`${path} is binary: compare it with a quoted base64 string`);
      return { kind: 'compare', ref, op, value: checkString(raw, path) };
    default:
      if (typeof raw !== 'string') throw invalidFilter(`${path} is a string: compare it with a quoted string, e.g. ${path} ${op} "${String(raw)}"`);
      return { kind: 'compare', ref, op, value: checkString(raw, path) };
  }
}

function convert(rt: ResourceTypeDef, f: LibFilter, parent: AttrRef | undefined): FilterNode {
  switch (f.op) {
    case 'and':
    case 'or':
      return { kind: f.op, children: f.filters.map((c) => convert(rt, c, parent)) };
    case 'not':
      return { kind: 'not', child: convert(rt, f.filter, parent) };
    case '[]': {
      if (parent) throw invalidFilter(`value paths cannot be nested (${f.attrPath}[…] inside ${parent.path}[…])`);
      const ref = resolveRef(rt, f.attrPath, undefined);
      if (ref.sub || ref.attr.type !== 'complex' || !ref.attr.multiValued) {
        throw invalidFilter(`${ref.path}[…] needs a multi-valued complex attribute such as emails or members`);
      }
      if (notFilterable(ref)) throw invalidFilter(`${ref.path} cannot be filtered`);
      return { kind: 'valuePath', ref, filter: convert(rt, f.valFilter, ref) };
    }
    case 'pr': {
      const ref = resolveRef(rt, f.attrPath, parent);
      if (notFilterable(ref)) throw invalidFilter(`${ref.path} cannot be filtered`);
      return { kind: 'present', ref };
    }
    default: {
      if (!COMPARE_OPS.has(f.op)) throw invalidFilter(`unknown operator ${String((f as { op: unknown }).op)}`);
      const ref = comparable(resolveRef(rt, f.attrPath, parent));
      if (notFilterable(ref)) throw invalidFilter(`${ref.path} cannot be filtered`);
      return typedCompare(ref, f.op, f.compValue);
    }
  }
}

/**
 * Parses and resolves a filter for a resource type. With `parent`, the filter is the inside of a
 * value path (`type eq "work"` in `emails[type eq "work"]`) and names sub-attributes of `parent`.
 * Every failure is a 400 invalidFilter that says what is wrong.
 */
export function parseFilter(rt: ResourceTypeDef, text: string, limits: FilterLimits = DEFAULT_FILTER_LIMITS, parent?: AttrRef): FilterNode {
  if (typeof text !== 'string' || !text.trim()) throw invalidFilter('is empty');
  if (text.length > limits.maxLength) throw invalidFilter(`is longer than ${limits.maxLength} characters`);
  const tokens = tokenizeFilter(text, limits.maxDepth);
  tokens.push({ type: 'EOT', literal: '' });
  const list = new Tokens(tokens);
  let lib: LibFilter;
  try {
    lib = parseTokens(list);
  } catch (err) {
    throw invalidFilter(`cannot be parsed (${(err as Error).message})`);
  }
  if (list.peek().type !== 'EOT') throw invalidFilter(`unexpected "${list.peek().literal}" after a complete expression`);
  const nodes = countNodes(lib);
  if (nodes > limits.maxNodes) throw invalidFilter(`has ${nodes} expressions; at most ${limits.maxNodes} are allowed`);
  return convert(rt, lib, parent);
}

/** For a valuePath's inner filter: the equality conditions that define a new value when none matches. */
export function equalityTemplate(node: FilterNode): Map<AttributeDef, string | boolean | number> | undefined {
  const out = new Map<AttributeDef, string | boolean | number>();
  const visit = (n: FilterNode): boolean => {
    if (n.kind === 'and') return n.children.every(visit);
    if (n.kind === 'compare' && n.op === 'eq' && n.ref.sub && !out.has(n.ref.sub)) {
      out.set(n.ref.sub, n.value);
      return true;
    }
    return false;
  };
  return visit(node) ? out : undefined;
}
