// RFC 9162 Merkle trees: known roots from Certificate Transparency's test vectors, and property
// tests over tree sizes against a reference written straight from the RFC's recursive definitions.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  EMPTY_ROOT,
  MerkleAccumulator,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  perfectFromLeaves,
  rootOfLeaves,
  splitPoint,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

// The reference: RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 over arrays, as literally as possible.
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha256(Buffer.alloc(0));
  if (d.length === 1) return sha256(Buffer.concat([Buffer.from([0]), d[0]!]));
  const k = splitPoint(d.length);
  return sha256(Buffer.concat([Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k))]));
}
function refPath(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const k = splitPoint(d.length);
  return m < k ? [...refPath(m, d.slice(0, k)), mth(d.slice(k))] : [...refPath(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function refSubproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = splitPoint(d.length);
  return m <= k ? [...refSubproof(m, d.slice(0, k), b), mth(d.slice(k))] : [...refSubproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

const data = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`entry-${i}`));
const hex = (b: Buffer) => b.toString('hex');

describe('RFC 9162 tree hashing', () => {
  // Certificate Transparency's reference inputs and roots (the RFC 6962 test vectors; RFC 9162 keeps
  // the same leaf and node hashing).
  const ctInputs = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
  const ctRoots = [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];

  it('reproduces the Certificate Transparency reference roots for 1 to 8 leaves', () => {
    for (let n = 1; n <= 8; n++) {
      expect(hex(rootOfLeaves(ctInputs.slice(0, n).map(leafHash))), `tree of ${n}`).toBe(ctRoots[n - 1]);
    }
  });

  it('hashes the empty tree as SHA-256 of nothing, and domain-separates leaves from nodes', () => {
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const a = Buffer.alloc(32, 1);
    expect(leafHash(Buffer.concat([a, a]))).not.toEqual(nodeHash(a, a));
  });

  it('builds the same root incrementally as the recursive definition, for every size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), (n) => {
        const d = data(n);
        const acc = new MerkleAccumulator();
        for (const x of d) acc.push(leafHash(x));
        expect(hex(acc.root())).toBe(hex(mth(d)));
      }),
      { numRuns: 150 },
    );
  });

  it('reports every perfect subtree once as it completes, with its level and index', () => {
    const d = data(13);
    const seen = new Map<string, Buffer>();
    const acc = new MerkleAccumulator((level, index, h) => {
      expect(seen.has(`${level}/${index}`)).toBe(false);
      seen.set(`${level}/${index}`, h);
    });
    for (const x of d) acc.push(leafHash(x));
    // 13 leaves, 6 pairs, 3 fours, 1 eight.
    expect(seen.size).toBe(13 + 6 + 3 + 1);
    expect(hex(seen.get('3/0')!)).toBe(hex(mth(d.slice(0, 8))));
    expect(hex(seen.get('2/2')!)).toBe(hex(mth(d.slice(8, 12))));
  });

  it('resumes from the perfect subtrees of a smaller tree', () => {
    const d = data(23);
    const resumed = MerkleAccumulator.resume(13, [mth(d.slice(0, 8)), mth(d.slice(8, 12)), mth(d.slice(12, 13))]);
    for (const x of d.slice(13)) resumed.push(leafHash(x));
    expect(hex(resumed.root())).toBe(hex(mth(d)));
  });
});

describe('RFC 9162 inclusion proofs (§2.1.3)', () => {
  it('match the RFC definition and verify, for every tree size and leaf', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 260 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))), async ([n, m]) => {
        const d = data(n);
        const leaves = d.map(leafHash);
        const proof = await inclusionProof(m, n, perfectFromLeaves(leaves));
        expect(proof.map(hex)).toEqual(refPath(m, d).map(hex));
        expect(verifyInclusion(m, n, leaves[m]!, proof, mth(d))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('fail for a changed leaf, a changed proof step, another index, another size or a truncated proof', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 200 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))), async ([n, m]) => {
        const leaves = data(n).map(leafHash);
        const root = rootOfLeaves(leaves);
        const proof = await inclusionProof(m, n, perfectFromLeaves(leaves));
        expect(verifyInclusion(m, n, leafHash(Buffer.from('forged')), proof, root)).toBe(false);
        const bent = proof.map((p, i) => (i === 0 ? Buffer.from(p.map((b, j) => (j === 0 ? b ^ 1 : b))) : p));
        expect(verifyInclusion(m, n, leaves[m]!, bent, root)).toBe(false);
        expect(verifyInclusion((m + 1) % n, n, leaves[m]!, proof, root)).toBe(false);
        // (the size is bound to the root by the signed checkpoint; a proof of the wrong length fails)
        expect(verifyInclusion(m, 2 * n, leaves[m]!, proof, root)).toBe(false);
        expect(verifyInclusion(m, n, leaves[m]!, proof.slice(0, -1), root)).toBe(false);
        expect(verifyInclusion(n, n, leaves[m]!, proof, root)).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  it('is empty for the only leaf of a one-leaf tree, whose root is the leaf hash', async () => {
    const leaf = leafHash(Buffer.from('only'));
    expect(await inclusionProof(0, 1, perfectFromLeaves([leaf]))).toEqual([]);
    expect(verifyInclusion(0, 1, leaf, [], leaf)).toBe(true);
  });
});

describe('RFC 9162 consistency proofs (§2.1.4)', () => {
  it('match the RFC definition and verify, for every pair of sizes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 260 }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n))), async ([m, n]) => {
        const d = data(n);
        const leaves = d.map(leafHash);
        const proof = await consistencyProof(m, n, perfectFromLeaves(leaves));
        expect(proof.map(hex)).toEqual(m === n ? [] : refSubproof(m, d, true).map(hex));
        expect(verifyConsistency(m, n, mth(d.slice(0, m)), mth(d), proof)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('fail when the older tree was not a prefix, a proof step changed, or the sizes are wrong', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 200 }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n - 1 }), fc.constant(n))), async ([m, n]) => {
        const d = data(n);
        const proof = await consistencyProof(m, n, perfectFromLeaves(d.map(leafHash)));
        const oldRoot = mth(d.slice(0, m));
        const rewritten = [...d.slice(0, m - 1), Buffer.from('rewritten'), ...d.slice(m)];
        expect(verifyConsistency(m, n, oldRoot, mth(rewritten), proof)).toBe(false);
        expect(verifyConsistency(m, n, mth(rewritten.slice(0, m)), mth(d), proof)).toBe(false);
        const bent = proof.map((p, i) => (i === proof.length - 1 ? Buffer.from(p.map((b, j) => (j === 31 ? b ^ 0x80 : b))) : p));
        expect(verifyConsistency(m, n, oldRoot, mth(d), bent)).toBe(false);
        expect(verifyConsistency(m, 2 * n, oldRoot, mth(d), proof)).toBe(false);
        expect(verifyConsistency(m, n, oldRoot, mth(d), [])).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  it('treats equal sizes as equal roots and the empty tree as a prefix of every tree', () => {
    const root = mth(data(5));
    expect(verifyConsistency(5, 5, root, root, [])).toBe(true);
    expect(verifyConsistency(5, 5, root, mth(data(4)), [])).toBe(false);
    expect(verifyConsistency(0, 5, EMPTY_ROOT, root, [])).toBe(true);
  });
});
