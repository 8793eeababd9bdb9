// SCRAM-SHA-256 verifiers in PostgreSQL's stored format, checked against RFC 7677's test vector.
import { describe, expect, it } from 'vitest';
import { scramSha256Verifier } from './scram.js';

describe('SCRAM-SHA-256 verifier', () => {
  it("matches RFC 7677's example (user's password 'pencil')", () => {
    // RFC 7677 §3: salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations; ServerSignature follows from ServerKey.
    const v = scramSha256Verifier('pencil', { salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), iterations: 4096 });
    expect(v).toBe('SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=');
  });

  it('salts each verifier and refuses passwords PostgreSQL would normalise', () => {
    expect(scramSha256Verifier('same')).not.toBe(scramSha256Verifier('same'));
    expect(() => scramSha256Verifier('pässword')).toThrow(/printable ASCII/);
  });
});
