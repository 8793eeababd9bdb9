// Translates the SPI filter into SQL over pg_roles (accounts) or the entitlement listing. Column
// names come from a fixed map and values are always bind parameters, so a filter can never
// inject SQL; what has no column here is evaluated in memory by the connector.
import type { Filter, LeafFilter } from '../spi/filter.js';

export interface SqlColumn {
  sql: string;
  type: 'text' | 'int' | 'bool';
  /** Only these operators translate (memberOf only compares for equality). */
  ops?: readonly string[];
}

export const ACCOUNT_COLUMNS: Record<string, SqlColumn> = {
  uid: { sql: 'r.oid::text', type: 'text', ops: ['eq', 'ne', 'pr'] },
  name: { sql: 'r.rolname::text', type: 'text' },
  enabled: { sql: '(r.rolconnlimit <> 0)', type: 'bool', ops: ['eq', 'ne', 'pr'] },
  connectionLimit: { sql: 'r.rolconnlimit', type: 'int', ops: ['eq', 'ne', 'pr'] },
  comment: { sql: "shobj_description(r.oid, 'pg_authid')", type: 'text' },
};

export const ENTITLEMENT_COLUMNS: Record<string, SqlColumn> = {
  uid: { sql: 'e.uid', type: 'text' },
  name: { sql: 'e.name', type: 'text' },
  kind: { sql: 'e.kind', type: 'text', ops: ['eq', 'ne', 'pr'] },
};

export function canPushLeaf(columns: Record<string, SqlColumn>, leaf: LeafFilter, extra?: (leaf: LeafFilter) => boolean): boolean {
  if (extra?.(leaf)) return true;
  const column = columns[leaf.attribute];
  if (!column) return false;
  if (column.ops && !column.ops.includes(leaf.op)) return false;
  if (leaf.op === 'pr') return true;
  if (column.type === 'bool') return typeof leaf.value === 'boolean';
  if (column.type === 'int') return typeof leaf.value === 'number' && Number.isInteger(leaf.value);
  return typeof leaf.value === 'string';
}

const likeEscape = (v: string) => v.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Appends bind values to `params` and returns the SQL condition. */
export function filterToSql(
  filter: Filter,
  columns: Record<string, SqlColumn>,
  params: unknown[],
  extra?: (leaf: LeafFilter, bind: (v: unknown) => string) => string | undefined,
): string {
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  switch (filter.op) {
    case 'and':
    case 'or':
      return `(${filter.filters.map((f) => filterToSql(f, columns, params, extra)).join(filter.op === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT COALESCE(${filterToSql(filter.filter, columns, params, extra)}, false))`;
    default: {
      const custom = extra?.(filter, bind);
      if (custom !== undefined) return custom;
      const column = columns[filter.attribute]!;
      if (filter.op === 'pr') return `(${column.sql} IS NOT NULL)`;
      switch (filter.op) {
        case 'eq':
          return `(${column.sql} = ${bind(filter.value)})`;
        case 'ne':
          return `(${column.sql} IS DISTINCT FROM ${bind(filter.value)})`;
        case 'sw':
          return `(${column.sql} LIKE ${bind(likeEscape(String(filter.value)) + '%')} ESCAPE '\\')`;
        case 'ew':
          return `(${column.sql} LIKE ${bind('%' + likeEscape(String(filter.value)))} ESCAPE '\\')`;
        case 'co':
          return `(${column.sql} LIKE ${bind('%' + likeEscape(String(filter.value)) + '%')} ESCAPE '\\')`;
      }
    }
  }
}
