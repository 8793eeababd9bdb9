// The tree thread must compute exactly merkle.ts's tree: same roots at every size, same stored
// subtrees, and it must say which stored subtree differs.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MerkleAccumulator, leafHash } from './merkle.js';
import { startMerkleWorker } from './merkle-worker.js';

const entryHash = (i: number) => createHash('sha256').update(`entry ${i}`).digest();

describe('the tree thread', () => {
  it('gives the same roots as MerkleAccumulator at every wanted size, pushed in pages of any size', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1500 }), fc.integer({ min: 1, max: 300 }), async (n, pageSize) => {
        const sizes = [...new Set([1, 2, 3, Math.ceil(n / 3), n - 1, n].filter((s) => s >= 1 && s <= n))];
        const expected = new Map<number, string>();
        const acc = new MerkleAccumulator();
        for (let i = 0; i < n; i++) {
          acc.push(leafHash(entryHash(i)));
          if (sizes.includes(acc.size)) expected.set(acc.size, acc.root().toString('hex'));
        }
        const worker = startMerkleWorker({ sizes, stored: new Map(), storedLevel: 8 });
        try {
          for (let at = 0; at < n; at += pageSize) {
            worker.push(Buffer.concat(Array.from({ length: Math.min(pageSize, n - at) }, (_, i) => entryHash(at + i))));
          }
          const result = await worker.finish();
          expect(result.size).toBe(n);
          expect(result.roots).toEqual(expected);
          expect(result.mismatches).toEqual([]);
        } finally {
          await worker.terminate();
        }
      }),
      { numRuns: 25 },
    );
  });

  it('names each stored subtree that differs, and only those', async () => {
    const perfect = new Map<string, Buffer>();
    const acc = new MerkleAccumulator((level, index, hash) => {
      if (level >= 8) perfect.set(`${level}/${index}`, hash);
    });
    for (let i = 0; i < 1100; i++) acc.push(leafHash(entryHash(i)));
    expect([...perfect.keys()].sort()).toEqual(['10/0', '8/0', '8/1', '8/2', '8/3', '9/0', '9/1']);
    perfect.set('8/2', Buffer.alloc(32, 9));
    const worker = startMerkleWorker({ sizes: [], stored: perfect, storedLevel: 8 });
    try {
      worker.push(Buffer.concat(Array.from({ length: 1100 }, (_, i) => entryHash(i))));
      expect((await worker.finish()).mismatches).toEqual([{ level: 8, index: 2 }]);
    } finally {
      await worker.terminate();
    }
  });
});
