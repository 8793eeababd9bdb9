import { describe, expect, it } from 'vitest';
import { applyFieldRules, hashValue, maskValue } from './field-rules.js';

const key = Buffer.alloc(32, 7);

describe('field rules', () => {
  it('drop, hash with the key, mask and pass, leaving the input as it was', () => {
    const record = { id: 'E1', email: 'ada@corp.example', ssn: '123-45-6789', phone: '+44 20 7946 0958', team: 'core', manager: null };
    const out = applyFieldRules(
      record,
      {
        email: { classification: 'pii', rule: 'hash' },
        ssn: { classification: 'secret', rule: 'drop' },
        phone: { classification: 'pii', rule: 'mask' },
        team: { classification: 'public', rule: 'pass' },
        manager: { classification: 'pii', rule: 'hash' },
        absent: { classification: 'pii', rule: 'hash' },
      },
      key,
    );
    expect(out).toEqual({ id: 'E1', email: hashValue('ada@corp.example', key), phone: '****0958', team: 'core', manager: null });
    expect(out.email).toMatch(/^[0-9a-f]{64}$/);
    expect(record.ssn).toBe('123-45-6789');
  });

  it('hash the same value the same way under one key, and differently under another', () => {
    expect(hashValue('ada@corp.example', key)).toBe(hashValue('ada@corp.example', Buffer.alloc(32, 7)));
    expect(hashValue('ada@corp.example', Buffer.alloc(32, 8))).not.toBe(hashValue('ada@corp.example', key));
    expect(hashValue({ b: 1, a: 2 }, key)).toBe(hashValue({ a: 2, b: 1 }, key));
  });

  it('mask short values entirely', () => {
    expect(maskValue('abc')).toBe('****');
    expect(maskValue(1234567)).toBe('****4567');
  });
});
