// Merkle trees as RFC 9162 (Certificate Transparency 2.0) defines them: leaf = H(0x00 ‖ data),
// node = H(0x01 ‖ left ‖ right), the tree over n leaves split at the largest power of two below n;
// inclusion and consistency proofs (§2.1.3, §2.1.4) and their verification. Pure: no database.
// Written here because no well-kept npm package implements RFC 9162 proofs over a tree whose
// subtrees live in a database; every function follows the RFC's text step by step.
import { hash } from 'node:crypto';

const sha256 = (data: Buffer): Buffer => hash('sha256', data, 'buffer') as unknown as Buffer;

/** MTH({}): the hash of an empty tree. */
export const EMPTY_ROOT = sha256(Buffer.alloc(0));

export function leafHash(data: Buffer): Buffer {
  const input = Buffer.allocUnsafe(data.length + 1);
  input[0] = 0x00;
  data.copy(input, 1);
  return sha256(input);
}

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  const input = Buffer.allocUnsafe(65);
  input[0] = 0x01;
  left.copy(input, 1);
  right.copy(input, 33);
  return sha256(input);
}

// Tree sizes reach past 2^32, so no bitwise operators below.
const half = (n: number) => Math.floor(n / 2);
const isOdd = (n: number) => n % 2 === 1;

/** The largest power of two smaller than n (n ≥ 2): where RFC 9162 splits a tree of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n > 1) {
    if (isOdd(n)) return false;
    n = half(n);
  }
  return true;
}

/**
 * The hash of the perfect subtree over leaves [index·2^level, (index+1)·2^level). Proof generation
 * asks only for these, so a store can keep the large ones and compute the small ones.
 */
export type PerfectSubtree = (level: number, index: number) => Promise<Buffer>;

function log2(powerOfTwo: number): number {
  let level = 0;
  for (let s = powerOfTwo; s > 1; s = half(s)) level++;
  return level;
}

/** MTH(D[lo:hi]) for a range of the kind RFC 9162's recursion produces (lo a multiple of its left part). */
export async function subtreeHash(lo: number, hi: number, perfect: PerfectSubtree): Promise<Buffer> {
  const size = hi - lo;
  if (size <= 0) throw new Error(`empty subtree [${lo}, ${hi})`);
  if (isPowerOfTwo(size)) {
    const level = log2(size);
    return perfect(level, lo / size);
  }
  const k = splitPoint(size);
  return nodeHash(await subtreeHash(lo, lo + k, perfect), await subtreeHash(lo + k, hi, perfect));
}

/** PATH(m, D[n]) of RFC 9162 §2.1.3.1: the audit path of leaf m in the tree of size n, leaf side first. */
export async function inclusionProof(m: number, n: number, perfect: PerfectSubtree): Promise<Buffer[]> {
  if (!(m >= 0 && m < n)) throw new Error(`leaf ${m} is not in a tree of size ${n}`);
  const path = async (index: number, lo: number, hi: number): Promise<Buffer[]> => {
    if (hi - lo === 1) return [];
    const k = splitPoint(hi - lo);
    return index < lo + k
      ? [...(await path(index, lo, lo + k)), await subtreeHash(lo + k, hi, perfect)]
      : [...(await path(index, lo + k, hi)), await subtreeHash(lo, lo + k, perfect)];
  };
  return path(m, 0, n);
}

/** PROOF(m, D[n]) of RFC 9162 §2.1.4.1: proves the tree of size m is a prefix of the tree of size n. */
export async function consistencyProof(m: number, n: number, perfect: PerfectSubtree): Promise<Buffer[]> {
  if (!(m >= 0 && m <= n)) throw new Error(`no consistency proof from size ${m} to size ${n}`);
  if (m === 0 || m === n) return [];
  const subproof = async (size: number, lo: number, hi: number, whole: boolean): Promise<Buffer[]> => {
    if (size === hi - lo) return whole ? [] : [await subtreeHash(lo, hi, perfect)];
    const k = splitPoint(hi - lo);
    return size <= k
      ? [...(await subproof(size, lo, lo + k, whole)), await subtreeHash(lo + k, hi, perfect)]
      : [...(await subproof(size - k, lo + k, hi, false)), await subtreeHash(lo, lo + k, perfect)];
  };
  return subproof(m, 0, n, true);
}

/** RFC 9162 §2.1.3.2: does `proof` show `leaf` (a leaf hash) at `index` in the tree of `size` with `root`? */
export function verifyInclusion(index: number, size: number, leaf: Buffer, proof: Buffer[], root: Buffer): boolean {
  if (!(index >= 0 && index < size)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2: does `proof` show the tree of size m (rootM) is a prefix of the tree of size n (rootN)? */
export function verifyConsistency(m: number, n: number, rootM: Buffer, rootN: Buffer, proof: Buffer[]): boolean {
  if (!(m >= 0 && m <= n)) return false;
  if (m === n) return proof.length === 0 && rootM.equals(rootN);
  if (m === 0) return proof.length === 0 && rootM.equals(EMPTY_ROOT);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : [...proof];
  let fn = m - 1;
  let sn = n - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && fr.equals(rootM) && sr.equals(rootN);
}

/**
 * The tree built one leaf at a time (a compact range: one hash per set bit of the size), so roots of
 * growing trees cost O(log n) each. `onPerfect` sees every perfect subtree as it completes.
 */
export class MerkleAccumulator {
  private readonly stack: Buffer[] = [];
  size = 0;

  constructor(private readonly onPerfect?: (level: number, index: number, hash: Buffer) => void) {}

  /** Continues from the perfect subtrees of an existing tree of `size`, largest first. */
  static resume(size: number, perfectSubtrees: Buffer[], onPerfect?: (level: number, index: number, hash: Buffer) => void): MerkleAccumulator {
    const acc = new MerkleAccumulator(onPerfect);
    acc.size = size;
    acc.stack.push(...perfectSubtrees);
    return acc;
  }

  push(leaf: Buffer): void {
    this.stack.push(leaf);
    this.size++;
    let level = 0;
    this.onPerfect?.(0, this.size - 1, leaf);
    for (let s = this.size; !isOdd(s); s = half(s)) {
      const right = this.stack.pop()!;
      const left = this.stack.pop()!;
      const merged = nodeHash(left, right);
      this.stack.push(merged);
      level++;
      this.onPerfect?.(level, this.size / 2 ** level - 1, merged);
    }
  }

  root(): Buffer {
    if (this.stack.length === 0) return EMPTY_ROOT;
    let r = this.stack[this.stack.length - 1]!;
    for (let i = this.stack.length - 2; i >= 0; i--) r = nodeHash(this.stack[i]!, r);
    return r;
  }
}

/** MTH over leaf hashes held in memory. */
export function rootOfLeaves(leaves: Buffer[]): Buffer {
  const acc = new MerkleAccumulator();
  for (const leaf of leaves) acc.push(leaf);
  return acc.root();
}

/** A PerfectSubtree over leaf hashes held in memory (tests, and small ranges). */
export function perfectFromLeaves(leaves: Buffer[]): PerfectSubtree {
  return async (level, index) => {
    const size = 2 ** level;
    return rootOfLeaves(leaves.slice(index * size, (index + 1) * size));
  };
}
