// Translates the SPI filter into an LDAP filter (RFC 4515) with ldapts' filter objects, which escape
// every value; attribute names are checked against a strict pattern. The SPI's own names map to
// the directory's: uid to entryUUID, name to the naming attribute, enabled to the disable marker.
import { AndFilter, EqualityFilter, NotFilter, OrFilter, PresenceFilter, SubstringFilter, type Filter as LdapFilter } from 'ldapts';
import type { Filter, LeafFilter } from '../spi/filter.js';

export interface LdapFilterNames {
  nameAttribute: string;
  disableAttribute: string;
  disableValue: string;
  /** SPI names that have no LDAP attribute and are evaluated in memory (memberOf, kind). */
  inMemory: readonly string[];
}

const ATTRIBUTE = /^[A-Za-z][A-Za-z0-9-]*$/;

const text = (v: string | number | boolean) => (typeof v === 'boolean' ? (v ? 'TRUE' : 'FALSE') : String(v));

export function canPushToLdap(leaf: LeafFilter, names: LdapFilterNames): boolean {
  if (names.inMemory.includes(leaf.attribute)) return false;
  if (leaf.attribute === 'uid') return ['eq', 'ne', 'pr'].includes(leaf.op);
  if (leaf.attribute === 'enabled') return (leaf.op === 'eq' || leaf.op === 'ne') && typeof (leaf as { value?: unknown }).value === 'boolean';
  return ATTRIBUTE.test(leaf.attribute);
}

function leafToLdap(leaf: LeafFilter, names: LdapFilterNames): LdapFilter {
  if (leaf.attribute === 'enabled' && leaf.op !== 'pr') {
    const disabled = new EqualityFilter({ attribute: names.disableAttribute, value: names.disableValue });
    const wantEnabled = leaf.op === 'eq' ? leaf.value === true : leaf.value !== true;
    return wantEnabled ? new NotFilter({ filter: disabled }) : disabled;
  }
  const attribute = leaf.attribute === 'uid' ? 'entryUUID' : leaf.attribute === 'name' ? names.nameAttribute : leaf.attribute;
  if (leaf.op === 'pr') return new PresenceFilter({ attribute });
  const value = text(leaf.value);
  switch (leaf.op) {
    case 'eq':
      return new EqualityFilter({ attribute, value });
    case 'ne':
      return new NotFilter({ filter: new EqualityFilter({ attribute, value }) });
    case 'sw':
      return new SubstringFilter({ attribute, initial: value, any: [], final: '' });
    case 'ew':
      return new SubstringFilter({ attribute, initial: '', any: [], final: value });
    case 'co':
      return new SubstringFilter({ attribute, initial: '', any: [value], final: '' });
  }
}

export function filterToLdap(filter: Filter, names: LdapFilterNames): LdapFilter {
  switch (filter.op) {
    case 'and':
      return new AndFilter({ filters: filter.filters.map((f) => filterToLdap(f, names)) });
    case 'or':
      return new OrFilter({ filters: filter.filters.map((f) => filterToLdap(f, names)) });
    case 'not':
      return new NotFilter({ filter: filterToLdap(filter.filter, names) });
    default:
      return leafToLdap(filter, names);
  }
}
