// Translates a parsed filter (and sortBy) into a parameterized SQL condition over the SCIM tables.
// Attribute names reach SQL only as bind parameters or as column names chosen here from the schema;
// values only as bind parameters. userName, externalId, id and group displayName compare on
// indexed columns with the exact expressions of their indexes. Semantics match scim-filter-eval.ts.
import type { AttrRef } from './scim-attribute-path.js';
import type { CompareOp, FilterNode } from './scim-filter.js';
import { invalidValue } from './scim-errors.js';
import type { ResourceTypeName } from './scim-schema.js';

/** Bind parameters, numbered in the order they are added. */
export class SqlParams {
  readonly values: unknown[] = [];
  constructor(initial: unknown[] = []) {
    this.values.push(...initial);
  }
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A value in SQL and how to compare it. */
type Scalar =
  | { kind: 'text'; expr: string; notNull?: boolean }
  | { kind: 'uuid'; expr: string; notNull?: boolean }
  | { kind: 'time'; expr: string; notNull?: boolean }
  | { kind: 'json'; expr: string; text: string; notNull?: false };

/**
 * A comparison that is never NULL, so NOT means "does not match" as it does in memory. On NOT NULL
 * columns the comparison stands alone, which keeps it an index condition.
 */
const guarded = (s: Scalar, valueExpr: string, comparison: string) => (s.notNull ? `(${comparison})` : `(${valueExpr} IS NOT NULL AND ${comparison})`);

/** A multi-valued attribute whose values come from rows (memberships) rather than a JSON array. */
interface DerivedSource {
  /** FROM … WHERE fragment linking the rows to the resource row `r`. */
  from: string;
  link: string;
  sub(name: string, params: SqlParams): Scalar;
}

export interface SqlTable {
  resourceType: ResourceTypeName;
  table: string;
  /** Top-level attributes kept in columns, by canonical path. */
  columns: Record<string, Scalar>;
  derived: Record<string, DerivedSource>;
}

export const USER_TABLE: SqlTable = {
  resourceType: 'User',
  table: 'scim_user',
  columns: {
    userName: { kind: 'text', expr: 'r.user_name', notNull: true },
    externalId: { kind: 'text', expr: 'r.external_id' },
    id: { kind: 'uuid', expr: 'r.id', notNull: true },
    'meta.created': { kind: 'time', expr: 'r.created_at', notNull: true },
    'meta.lastModified': { kind: 'time', expr: 'r.last_modified', notNull: true },
  },
  derived: {
    groups: {
      from: 'scim_group_member m JOIN scim_group g ON g.id = m.group_id',
      link: 'm.member_id = r.id',
      sub(name, params) {
        if (name === 'value') return { kind: 'uuid', expr: 'm.group_id', notNull: true };
        if (name === 'display') return { kind: 'text', expr: 'g.display_name', notNull: true };
        return { kind: 'text', expr: `${params.add('direct')}::text`, notNull: true };
      },
    },
  },
};

export const GROUP_TABLE: SqlTable = {
  resourceType: 'Group',
  table: 'scim_group',
  columns: {
    displayName: { kind: 'text', expr: 'r.display_name', notNull: true },
    externalId: { kind: 'text', expr: 'r.external_id' },
    id: { kind: 'uuid', expr: 'r.id', notNull: true },
    'meta.created': { kind: 'time', expr: 'r.created_at', notNull: true },
    'meta.lastModified': { kind: 'time', expr: 'r.last_modified', notNull: true },
  },
  derived: {
    members: {
      from: 'scim_group_member m',
      link: 'm.group_id = r.id',
      sub(name) {
        if (name === 'value') return { kind: 'uuid', expr: 'm.member_id', notNull: true };
        if (name === 'display') return { kind: 'text', expr: 'm.display' };
        return { kind: 'text', expr: 'm.member_type', notNull: true };
      },
    },
  },
};

/** Case folding and ordering independent of the database's locale (pg_c_utf8: PostgreSQL 17+). */
const folded = (expr: string) => `lower(${expr} COLLATE pg_c_utf8)`;
const ordered = (expr: string) => `(${expr} COLLATE pg_c_utf8)`;

const SQL_ORDER: Record<'gt' | 'ge' | 'lt' | 'le' | 'eq', string> = { gt: '>', ge: '>=', lt: '<', le: '<=', eq: '=' };

class Translator {
  private aliases = 0;
  constructor(
    private readonly table: SqlTable,
    private readonly params: SqlParams,
  ) {}

  /** The stored JSON object an attribute lives in: the resource, or its extension object. */
  private base(ref: AttrRef): string {
    return ref.container.kind === 'extension' ? `(r.resource->${this.params.add(ref.container.schema.id)}::text)` : 'r.resource';
  }

  private jsonScalar(object: string, key: string): Scalar {
    const k = this.params.add(key);
    return { kind: 'json', expr: `(${object}->${k}::text)`, text: `(${object}->>${k}::text)` };
  }

  private column(ref: AttrRef): Scalar | undefined {
    if (ref.container.kind === 'extension') return undefined;
    const key = ref.attr.name === 'meta' ? `meta.${ref.sub?.name}` : ref.attr.name;
    return this.table.columns[key];
  }

  /** The JSON array of a stored multi-valued attribute, as a set of elements aliased `alias(v)`. */
  private elements(ref: AttrRef, alias: string): string {
    const arr = `(${this.base(ref)}->${this.params.add(ref.attr.name)}::text)`;
    return `jsonb_array_elements(CASE WHEN jsonb_typeof(${arr}) = 'array' THEN ${arr} ELSE '[]'::jsonb END) AS ${alias}(v)`;
  }

  translate(node: FilterNode): string {
    switch (node.kind) {
      case 'and':
      case 'or':
        return `(${node.children.map((c) => this.translate(c)).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        return `(NOT ${this.translate(node.child)})`;
      case 'const':
        return node.value ? 'TRUE' : 'FALSE';
      case 'valuePath':
        return this.overElements(node.ref, (scalarOf) => this.inElement(node.filter, scalarOf));
      case 'present':
        return this.present(node.ref);
      case 'compare':
        if (node.op === 'ne') return `(NOT ${this.translate({ ...node, op: 'eq' })})`;
        return this.compareRef(node.ref, node.op, node.value);
    }
  }

  /** EXISTS over the values of a multi-valued attribute, with a way to reach each value's sub-attributes. */
  private overElements(ref: AttrRef, condition: (scalarOf: (sub: string) => Scalar) => string): string {
    const derived = ref.container.kind === 'core' ? this.table.derived[ref.attr.name] : undefined;
    if (derived) {
      return `EXISTS (SELECT 1 FROM ${derived.from} WHERE ${derived.link} AND ${condition((sub) => derived.sub(sub, this.params))})`;
    }
    const alias = `e${++this.aliases}`;
    return `EXISTS (SELECT 1 FROM ${this.elements(ref, alias)} WHERE ${condition((sub) => this.jsonScalar(`${alias}.v`, sub))})`;
  }

  elementCondition(node: FilterNode, scalarOf: (sub: string) => Scalar): string {
    return this.inElement(node, scalarOf);
  }

  private inElement(node: FilterNode, scalarOf: (sub: string) => Scalar): string {
    switch (node.kind) {
      case 'and':
      case 'or':
        return `(${node.children.map((c) => this.inElement(c, scalarOf)).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        return `(NOT ${this.inElement(node.child, scalarOf)})`;
      case 'const':
        return node.value ? 'TRUE' : 'FALSE';
      case 'present':
        return this.presentScalar(scalarOf(node.ref.sub!.name), node.ref);
      case 'compare':
        if (node.op === 'ne') return `(NOT ${this.inElement({ ...node, op: 'eq' }, scalarOf)})`;
        return this.compareScalar(scalarOf(node.ref.sub!.name), node.ref, node.op, node.value);
      case 'valuePath':
        return 'FALSE';
    }
  }

  private present(ref: AttrRef): string {
    if (ref.attr.multiValued) {
      return this.overElements(ref, (scalarOf) => (ref.sub ? this.presentScalar(scalarOf(ref.sub.name), ref) : 'TRUE'));
    }
    const column = this.column(ref);
    if (column) return this.presentScalar(column, ref);
    if (ref.attr.type === 'complex' && !ref.sub) {
      return `COALESCE(jsonb_typeof(${this.base(ref)}->${this.params.add(ref.attr.name)}::text) = 'object', FALSE)`;
    }
    const object = ref.sub ? `(${this.base(ref)}->${this.params.add(ref.attr.name)}::text)` : this.base(ref);
    return this.presentScalar(this.jsonScalar(object, (ref.sub ?? ref.attr).name), ref);
  }

  private presentScalar(s: Scalar, ref: AttrRef): string {
    const leaf = ref.sub ?? ref.attr;
    if (s.kind === 'json') return leaf.type === 'boolean' || leaf.type === 'integer' || leaf.type === 'decimal' ? `(${s.expr} IS NOT NULL)` : guarded(s, s.text, `${s.text} <> ''`);
    if (s.kind === 'text') return guarded(s, s.expr, `${s.expr} <> ''`);
    return s.notNull ? 'TRUE' : `(${s.expr} IS NOT NULL)`;
  }

  private compareRef(ref: AttrRef, op: CompareOp, value: string | boolean | number): string {
    if (ref.attr.multiValued) return this.overElements(ref, (scalarOf) => this.compareScalar(scalarOf(ref.sub!.name), ref, op, value));
    if (ref.container.kind === 'common' && ref.attr.name === 'meta' && ref.sub?.name === 'resourceType') {
      // A constant per table, compared as in memory (caseExact).
      const actual = this.table.resourceType;
      return this.compareScalar({ kind: 'text', expr: `${this.params.add(actual)}::text`, notNull: true }, ref, op, value);
    }
    const column = this.column(ref);
    if (column) return this.compareScalar(column, ref, op, value);
    const object = ref.sub ? `(${this.base(ref)}->${this.params.add(ref.attr.name)}::text)` : this.base(ref);
    return this.compareScalar(this.jsonScalar(object, (ref.sub ?? ref.attr).name), ref, op, value);
  }

  private compareScalar(s: Scalar, ref: AttrRef, op: CompareOp, value: string | boolean | number): string {
    const leaf = ref.sub ?? ref.attr;
    if (leaf.type === 'boolean') {
      if (s.kind !== 'json') throw new Error(`boolean ${ref.path} is not stored as JSON`);
      return guarded(s, s.expr, `${s.expr} = to_jsonb(${this.params.add(value)}::boolean)`);
    }
    if (leaf.type === 'dateTime') {
      const expr = s.kind === 'json' ? `(${s.text})::timestamptz` : s.expr;
      return guarded(s, expr, `${expr} ${SQL_ORDER[op as 'eq']} ${this.params.add(new Date(value as number).toISOString())}::timestamptz`);
    }
    if (leaf.type === 'integer' || leaf.type === 'decimal') {
      const expr = s.kind === 'json' ? `(${s.expr})::numeric` : s.expr;
      return guarded(s, expr, `${expr} ${SQL_ORDER[op as 'eq']} ${this.params.add(value)}::numeric`);
    }
    const text = value as string;
    if (s.kind === 'uuid') {
      // Equality on the uuid column itself, so the primary key (or membership index) answers it;
      // only the canonical lowercase spelling can match, as id is caseExact.
      if (op === 'eq') return UUID.test(text) ? guarded(s, s.expr, `${s.expr} = ${this.params.add(text)}::uuid`) : 'FALSE';
      return this.textCompare({ kind: 'text', expr: `${s.expr}::text`, notNull: s.notNull ?? false }, true, op, text);
    }
    return this.textCompare(s, leaf.caseExact, op, text);
  }

  private textCompare(s: Scalar, caseExact: boolean, op: CompareOp, value: string): string {
    const expr = s.kind === 'json' ? s.text : s.expr;
    const p = `${this.params.add(value)}::text`;
    const a = caseExact ? expr : folded(expr);
    const b = caseExact ? p : folded(p);
    switch (op) {
      case 'eq':
        return guarded(s, expr, `${a} = ${b}`);
      case 'co':
        return guarded(s, expr, `strpos(${a}, ${b}) > 0`);
      case 'sw':
        return guarded(s, expr, `starts_with(${a}, ${b})`);
      case 'ew':
        return guarded(s, expr, `right(${a}, char_length(${b})) = ${b}`);
      default:
        return guarded(s, expr, `${ordered(a)} ${SQL_ORDER[op as 'gt']} ${ordered(b)}`);
    }
  }

  sortKey(ref: AttrRef): string {
    const leaf = ref.sub ?? ref.attr;
    if (ref.container.kind === 'core' && this.table.derived[ref.attr.name]) throw invalidValue('sortBy', `cannot sort by ${ref.path}`);
    if (ref.container.kind === 'common' && ref.attr.name === 'meta' && !['created', 'lastModified'].includes(ref.sub?.name ?? '')) {
      throw invalidValue('sortBy', `cannot sort by ${ref.path}`);
    }
    let scalar: Scalar;
    if (ref.attr.multiValued) {
      // A multi-valued attribute sorts by its primary value, or its first (RFC 7644 section 3.4.2.3).
      const sub = ref.sub?.name ?? 'value';
      if (!ref.sub && leaf.type === 'complex' && !ref.attr.subAttributes?.some((s) => s.name === 'value')) {
        throw invalidValue('sortBy', `${ref.path} is complex; sort by one of its sub-attributes`);
      }
      const arr = `(${this.base(ref)}->${this.params.add(ref.attr.name)}::text)`;
      const k = this.params.add(sub);
      const primary = `(SELECT s.v->>${k}::text FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${arr}) = 'array' THEN ${arr} ELSE '[]'::jsonb END) WITH ORDINALITY AS s(v, n) ORDER BY (s.v->'primary') = 'true'::jsonb DESC, s.n LIMIT 1)`;
      const subDef = ref.sub ?? ref.attr.subAttributes?.find((s) => s.name === 'value');
      return subDef?.caseExact ? ordered(primary) : folded(primary);
    }
    if (leaf.type === 'complex') throw invalidValue('sortBy', `${ref.path} is complex; sort by one of its sub-attributes`);
    const column = this.column(ref);
    if (column) {
      scalar = column;
    } else {
      const object = ref.sub ? `(${this.base(ref)}->${this.params.add(ref.attr.name)}::text)` : this.base(ref);
      scalar = this.jsonScalar(object, leaf.name);
    }
    if (scalar.kind === 'time' || scalar.kind === 'uuid') return scalar.expr;
    if (leaf.type === 'boolean') return `(${(scalar as { expr: string }).expr})::boolean`;
    const text = scalar.kind === 'json' ? scalar.text : scalar.expr;
    return leaf.caseExact ? ordered(text) : folded(text);
  }
}

/** The SQL condition for a filter; its values are appended to `params`. */
export function filterToSql(node: FilterNode, table: SqlTable, params: SqlParams): string {
  return new Translator(table, params).translate(node);
}

/** The ORDER BY expression for sortBy. */
export function sortToSql(ref: AttrRef, table: SqlTable, params: SqlParams): string {
  return new Translator(table, params).sortKey(ref);
}

/** A value filter over group memberships (alias `m`), as in `members[value eq "…"]` in PATCH. */
export function memberFilterToSql(node: FilterNode, params: SqlParams): string {
  const members = GROUP_TABLE.derived.members!;
  return new Translator(GROUP_TABLE, params).elementCondition(node, (sub) => members.sub(sub, params));
}
