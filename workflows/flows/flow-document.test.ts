// Flow documents: what a valid one means (defaults made explicit, so the hash covers them), and each
// kind of mistake refused with the path of the field at fault.
import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../../shared/errors.js';
import { flowVersionHash, parseFlowDocument } from './flow-document.js';

const flow = (extra = '', target = 'operation: upsert') => `
apiVersion: gatehouse.dev/v1
kind: Flow
name: hr-to-crm
source: { connector: hr-db, objectClass: people }
target: { connector: crm-db, objectClass: contacts, ${target} }
mapping: '{ "id": employee_id, "email": $lowercase(email), "name": display_name }'
fields:
  email: { classification: pii, rule: hash }
${extra}`;

const refusal = (text: string) => {
  try {
    parseFlowDocument(text);
  } catch (err) {
    if (err instanceof GatehouseError) return { field: err.field, message: err.message };
    throw err;
  }
  throw new Error('the document was accepted');
};

describe('flow documents', () => {
  it('fill in their defaults, and the version ignores formatting and comments', () => {
    const doc = parseFlowDocument(flow());
    expect(doc).toMatchObject({
      name: 'hr-to-crm',
      source: { connector: 'hr-db', objectClass: 'people', pageSize: 500 },
      trigger: { type: 'manual' },
      target: { operation: 'upsert' },
      errors: { retries: 3 },
      fields: { email: { classification: 'pii', rule: 'hash' } },
    });
    const reformatted = parseFlowDocument(`# moved around, same meaning\n${flow().replace('source: { connector: hr-db, objectClass: people }', 'source:\n  objectClass: people\n  connector: hr-db\n  pageSize: 500')}`);
    expect(flowVersionHash(reformatted)).toBe(flowVersionHash(doc));
    expect(flowVersionHash(parseFlowDocument(flow('', 'operation: create-only')))).not.toBe(flowVersionHash(doc));
  });

  it('give a secret field the drop rule and refuse any other; a pii field must say its rule', () => {
    expect(parseFlowDocument(flow('  ssn: { classification: secret }')).fields.ssn).toEqual({ classification: 'secret', rule: 'drop' });
    expect(refusal(flow('  ssn: { classification: secret, rule: hash }'))).toMatchObject({ field: 'fields.ssn.rule', message: expect.stringContaining('a secret field may only be dropped') });
    expect(refusal(flow('  phone: { classification: pii }'))).toMatchObject({ field: 'fields.phone.rule', message: expect.stringContaining('a pii field needs its rule said') });
  });

  it('name the field at fault', () => {
    expect(refusal(flow().replace('objectClass: people', 'objectClass: People!'))).toMatchObject({ field: 'source.objectClass' });
    expect(refusal(flow("filter: '$$$ nonsense ('"))).toMatchObject({ field: 'filter', message: expect.stringContaining('not a valid JSONata expression') });
    expect(refusal(flow().replace('$lowercase(email)', '$lowercase(email'))).toMatchObject({ field: 'mapping' });
    expect(refusal(flow('schedule: hourly'))).toMatchObject({ field: 'document', message: expect.stringContaining('schedule') });
    expect(refusal(flow('trigger: { type: identity-event }'))).toMatchObject({ field: 'trigger.type' });
    expect(refusal(flow('trigger: { type: webhook, auth: basic }'))).toMatchObject({ field: 'trigger.auth' });
    expect(parseFlowDocument(flow('trigger: { type: webhook }')).trigger).toEqual({ type: 'webhook', auth: 'hmac' });
    expect(refusal(flow('trigger: { type: schedule }'))).toMatchObject({ field: 'trigger.cron' });
    expect(refusal(flow("trigger: { type: schedule, cron: '61 * * * *' }"))).toMatchObject({ field: 'trigger.cron', message: expect.stringContaining('not a valid cron expression') });
    expect(refusal(flow("trigger: { type: schedule, cron: '* * * *' }"))).toMatchObject({ field: 'trigger.cron', message: expect.stringContaining('five fields') });
    expect(refusal(flow("trigger: { type: schedule, cron: '0 * * * *', timezone: Mars/Olympus }"))).toMatchObject({ field: 'trigger.timezone' });
    expect(parseFlowDocument(flow("trigger: { type: schedule, cron: '*/15 * * * *', timezone: Europe/Paris }")).trigger).toEqual({ type: 'schedule', cron: '*/15 * * * *', timezone: 'Europe/Paris' });
    expect(refusal(flow('', 'operation: replace'))).toMatchObject({ field: 'target.operation' });
    expect(parseFlowDocument(flow('', 'operation: mirror')).target.operation).toBe('mirror');
    expect(refusal(flow('plan: { maxDeletes: -1 }'))).toMatchObject({ field: 'plan.maxDeletes' });
    expect(refusal(flow('', 'operation: upsert').replace('kind: Flow', 'kind: Policy'))).toMatchObject({ field: 'kind', message: expect.stringContaining('must be Flow') });
    expect(refusal('name: [unclosed')).toMatchObject({ field: 'document', message: expect.stringContaining('not valid YAML at line 1') });
  });
});
