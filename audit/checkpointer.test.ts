// The checkpointer as several server processes run it: each signs when N entries have arrived, they
// never sign one tree size twice, and a signing failure is logged and retried, never fatal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVault, type TestVault } from '../test/helpers/services.js';
import { appendSamples, createTestLedger, openAnotherLedger, type TestLedger } from '../test/helpers/ledger.js';
import { createCheckpointer } from './checkpointer.js';
import { createLedger } from './ledger-service.js';

let vault: TestVault;
let t: TestLedger;

beforeAll(async () => {
  vault = await createTestVault();
  t = await createTestLedger(vault);
});
afterAll(async () => {
  await t?.close();
});

const quietLog = () => {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (objOrMsg: unknown, msg?: string) => lines.push({ level, msg: typeof objOrMsg === 'string' ? objOrMsg : (msg ?? '') });
  return { lines, log: { info: at('info'), warn: at('warn'), debug: at('debug') } as never };
};

/** Waits for a condition the system reaches by itself; fails with `what` if it never does. */
async function eventually(what: string, check: () => Promise<boolean>, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the checkpointer', () => {
  it('signs every N entries from several processes at once, never twice for one size', async () => {
    const other = await openAnotherLedger(t.db, vault);
    const a = quietLog();
    const b = quietLog();
    const checkpointers = [
      createCheckpointer({ ledger: t.ledger, everyEntries: 10, intervalMs: 3_600_000, pollMs: 10, log: a.log }),
      createCheckpointer({ ledger: other.ledger, everyEntries: 10, intervalMs: 3_600_000, pollMs: 10, log: b.log }),
    ];
    try {
      await Promise.all(checkpointers.map((c) => c.start()));
      for (const size of [10, 20, 30]) {
        await appendSamples(t.ledger, 10, size - 10);
        await eventually(`a checkpoint at ${size}`, async () => (await t.ledger.latestCheckpoint())?.treeSize === size);
      }
      await appendSamples(t.ledger, 4, 30); // below N and within the interval: not due
    } finally {
      await Promise.all(checkpointers.map((c) => c.stop()));
      await other.orm.close(true);
    }
    expect((await t.ledger.checkpoints()).map((c) => c.treeSize)).toEqual([10, 20, 30]);
    const signedBy = [...a.lines, ...b.lines].filter((l) => l.msg === 'signed a ledger checkpoint');
    expect(signedBy).toHaveLength(3);
    expect((await t.ledger.verify()).ok).toBe(true);
  });

  it('signs after the interval when fewer than N entries arrived', async () => {
    const { log } = quietLog();
    const c = createCheckpointer({ ledger: t.ledger, everyEntries: 1000, intervalMs: 1, pollMs: 10, log });
    await c.start();
    try {
      await eventually('a checkpoint over the 4 pending entries', async () => (await t.ledger.latestCheckpoint())?.treeSize === 34);
    } finally {
      await c.stop();
    }
  });

  it('logs a signing failure once, keeps the entries, and keeps trying', async () => {
    await appendSamples(t.ledger, 3, 34);
    // A real failure: Vault refuses to sign with a key that does not exist.
    const broken = createLedger({ orm: t.orm, signer: vault.store, keyName: 'gatehouse-no-such-key' });
    const { lines, log } = quietLog();
    let ticks = 0;
    const counting = { checkpoint: (o: Parameters<typeof broken.checkpoint>[0]) => (ticks++, broken.checkpoint(o)) };
    const c = createCheckpointer({ ledger: counting, everyEntries: 1, intervalMs: 3_600_000, pollMs: 5, log });
    await c.start();
    try {
      await eventually('three failed attempts', async () => ticks >= 3);
    } finally {
      await c.stop();
    }
    expect(lines.filter((l) => l.level === 'warn')).toEqual([{ level: 'warn', msg: 'could not sign a ledger checkpoint; retrying' }]);
    expect((await t.ledger.latestCheckpoint())?.treeSize).toBe(34);
    expect((await t.ledger.head()).size).toBe(37);
  });
});
