// Late checkpoints are noticed: entries waiting for a signed checkpoint for more than twice the
// interval are reported; an idle ledger, or one whose checkpoint covers everything, is not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, type TestVault } from '../test/helpers/services.js';
import { appendSamples, createTestLedger, type TestLedger } from '../test/helpers/ledger.js';
import { checkpointLag, describeCheckpointLag } from './checkpoint-lag.js';

let vault: TestVault;
let t: TestLedger;

beforeAll(async () => {
  vault = await createTestVault();
  t = await createTestLedger(vault);
});
afterAll(async () => {
  await t?.close();
});

describe('checkpoint lag', () => {
  const minute = 60_000;
  const later = (ms: number) => new Date(Date.now() + ms);

  it('is nothing on an empty ledger, and nothing while uncovered entries are younger than twice the interval', async () => {
    expect(await checkpointLag(t.ledger, minute, later(10 * minute))).toBeUndefined();
    await appendSamples(t.ledger, 5);
    expect(await checkpointLag(t.ledger, minute, later(minute))).toBeUndefined();
  });

  it('names the entries waiting when the first of them has waited longer than twice the interval', async () => {
    const lag = await checkpointLag(t.ledger, minute, later(3 * minute));
    expect(lag).toMatchObject({ coveredSize: 0, headSize: 5 });
    expect(lag!.waitingMs).toBeGreaterThan(2 * minute);
    expect(describeCheckpointLag(lag!)).toMatch(/^ledger checkpoints are late: the newest signed checkpoint covers 0 of 5 entries, and entry 0 has waited 1\d\d s/);
  });

  it('is nothing once a checkpoint covers everything, however old it gets, until new entries wait', async () => {
    await t.ledger.checkpoint();
    expect(await checkpointLag(t.ledger, minute, later(60 * minute))).toBeUndefined();
    await appendSamples(t.ledger, 2, 5);
    expect(await checkpointLag(t.ledger, minute, later(5 * minute))).toMatchObject({ coveredSize: 5, headSize: 7 });
  });
});
