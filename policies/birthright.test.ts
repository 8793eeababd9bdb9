import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../shared/errors.js';
import { parsePolicyDocument, policyVersionHash } from './policy-document.js';
import { desiredAccess, renderTemplate, type BirthrightIdentity } from './birthright.js';

const head = 'apiVersion: gatehouse.dev/v1\nkind: AccessPolicy\nname: p\n';
const accounts = `birthright:\n  accounts:\n    - { connector: pg, name: "{localPart}" }\n    - { connector: ldap, name: "{localPart}", attributes: { cn: ["{displayName}"], sn: ["{familyName}"] } }\n`;

function problem(text: string): { field?: string; message: string } {
  try {
    parsePolicyDocument(text);
  } catch (err) {
    if (err instanceof GatehouseError) return { field: err.field, message: err.message };
    throw err;
  }
  throw new Error('expected the document to be refused');
}

const person = (attributes: BirthrightIdentity['attributes'], naming: BirthrightIdentity['naming'] = { userName: 'dana@acme.test', localPart: 'dana', displayName: 'Dana D', familyName: 'D' }): BirthrightIdentity => ({ attributes, naming });

describe('birthright in the policy document', () => {
  it('leaves documents without it (and their hashes) as they were', () => {
    const doc = parsePolicyDocument(head);
    expect(doc).not.toHaveProperty('birthright');
    expect(policyVersionHash(doc)).toBe(policyVersionHash(parsePolicyDocument(`${head}rules: []\n`)));
  });

  it('names the field of each problem', () => {
    expect(problem(`${head}birthright:\n  accounts:\n    - { connector: pg, name: "{nickname}" }\n`)).toMatchObject({ field: 'birthright.accounts[0].name' });
    expect(problem(`${head}birthright:\n  accounts:\n    - { connector: pg, name: "{nickname}" }\n`).message).toMatch(/unknown field \{nickname\}; use one of \{id\}, \{userName\}/);
    expect(problem(`${head}birthright:\n  accounts:\n    - { connector: "pg:x", name: x }\n`).field).toBe('birthright.accounts[0].connector');
    expect(problem(`${head}birthright:\n  accounts:\n    - { connector: pg, name: x }\n    - { connector: pg, name: y }\n`)).toEqual({ field: 'birthright.accounts[1].connector', message: 'birthright.accounts[1].connector: duplicates accounts[0].connector pg' });
    expect(problem(`${head}${accounts}  rules:\n    - { id: r }\n`)).toEqual({ field: 'birthright.rules[0].entitlements', message: 'birthright.rules[0].entitlements: a rule must give accounts or entitlements' });
    expect(problem(`${head}${accounts}  rules:\n    - { id: r, entitlements: ["crm:sales"] }\n`)).toMatchObject({ field: 'birthright.rules[0].entitlements[0]', message: expect.stringMatching(/connector crm, which has no entry in birthright.accounts/) });
    expect(problem(`${head}${accounts}  rules:\n    - { id: r, entitlements: [sales] }\n`).field).toBe('birthright.rules[0].entitlements[0]');
    expect(problem(`${head}${accounts}  rules:\n    - { id: r, accounts: [crm] }\n`).field).toBe('birthright.rules[0].accounts[0]');
    expect(problem(`${head}${accounts}  rules:\n    - { id: r, accounts: [pg] }\n    - { id: r, accounts: [pg] }\n`).field).toBe('birthright.rules[1].id');
    expect(problem(`${head}${accounts}  rules:\n    - { id: r, accounts: [pg], when: { shoeSize: [42] } }\n`).field).toBe('birthright.rules[0].when');
    expect(problem(`${head}${accounts}  rules:\n    - { id: r, accounts: [pg], when: { departments: [] } }\n`).field).toBe('birthright.rules[0].when.departments');
    expect(problem(`${head}targets:\n  - { connector: pg, reconcile: sometimes }\n`).field).toBe('targets[0].reconcile');
  });

  it('gives access by department, title, employment type, location and groups; every listed condition must hold', () => {
    const doc = parsePolicyDocument(`${head}${accounts}  rules:
    - { id: everyone, accounts: [ldap], entitlements: ["ldap:vpn"] }
    - { id: eng, when: { departments: [Engineering] }, entitlements: ["pg:analysts", "ldap:engineers"] }
    - { id: eng-leads-berlin, when: { departments: [Engineering], titles: [Lead], locations: [Berlin] }, entitlements: ["pg:deployers"] }
    - { id: contractors, when: { employmentTypes: [Contractor] }, entitlements: ["ldap:contractors"] }
    - { id: dba, when: { groups: [DBA, Ops] }, entitlements: ["pg:analysts", "pg:dba"] }
`);
    const b = doc.birthright!;
    const keys = (i: BirthrightIdentity) => desiredAccess(b, i).entitlements.map((e) => `${e.connector}:${e.entitlementId}`);
    expect(keys(person({}))).toEqual(['ldap:vpn']);
    expect(keys(person({ department: 'Engineering', title: 'Lead', location: 'Paris' }))).toEqual(['ldap:engineers', 'ldap:vpn', 'pg:analysts']);
    expect(keys(person({ department: 'Engineering', title: 'Lead', location: 'Berlin' }))).toEqual(['ldap:engineers', 'ldap:vpn', 'pg:analysts', 'pg:deployers']);
    expect(keys(person({ employmentType: 'Contractor', groups: ['Ops'] }))).toEqual(['ldap:contractors', 'ldap:vpn', 'pg:analysts', 'pg:dba']);
    const both = desiredAccess(b, person({ department: 'Engineering', groups: ['DBA'] }));
    expect(both.entitlements.find((e) => e.entitlementId === 'analysts')!.rules).toEqual(['eng', 'dba']);
    expect(both.accounts).toEqual([
      { connector: 'ldap', accountName: 'dana', attributes: { cn: ['Dana D'], sn: ['D'] }, rules: ['everyone', 'eng'] },
      { connector: 'pg', accountName: 'dana', attributes: {}, rules: ['eng', 'dba'] },
    ]);
  });

  it('reports a connector whose account cannot be named, and gives nothing there', () => {
    const doc = parsePolicyDocument(`${head}birthright:\n  accounts:\n    - { connector: pg, name: "{externalId}" }\n  rules:\n    - { id: r, entitlements: ["pg:analysts"] }\n`);
    const d = desiredAccess(doc.birthright!, person({}));
    expect(d).toEqual({ accounts: [], entitlements: [], problems: [{ connector: 'pg', message: 'the account name {externalId} names a field this person does not have' }] });
  });

  it('renders templates, and nothing when a field is empty', () => {
    expect(renderTemplate('{localPart}-{department}', { localPart: 'dana', department: 'eng' })).toBe('dana-eng');
    expect(renderTemplate('{localPart}-{department}', { localPart: 'dana' })).toBeUndefined();
    expect(renderTemplate('plain', {})).toBe('plain');
  });
});
