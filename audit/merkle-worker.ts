// Recomputes the RFC 9162 tree on a second thread while verification hashes the chain on the
// first: the tree costs two SHA-256 calls per entry, as much again as the chain. The thread runs
// plain JavaScript (eval), so it starts the same under tsx, vitest and compiled code; it repeats
// merkle.ts's leaf, node and compact-range rules, and the tests hold the two to the same roots.
import { Worker } from 'node:worker_threads';

const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { hash } = require('node:crypto');
const leafInput = Buffer.alloc(33);          // 0x00 || entry hash
const nodeInput = Buffer.alloc(65);          // 0x01 || left || right
nodeInput[0] = 1;
const sha256 = (b) => hash('sha256', b, 'buffer');
const stack = [];
let size = 0;
const wanted = new Set(workerData.sizes);
const stored = new Map(workerData.stored);
const roots = [];
const mismatches = [];
function root() {
  let r = stack[stack.length - 1];
  for (let i = stack.length - 2; i >= 0; i--) {
    stack[i].copy(nodeInput, 1);
    r.copy(nodeInput, 33);
    r = sha256(nodeInput);
  }
  return r;
}
parentPort.on('message', (m) => {
  if (m.type === 'end') {
    parentPort.postMessage({ size, roots, mismatches });
    return;
  }
  const hashes = Buffer.from(m.hashes);
  for (let o = 0; o < hashes.length; o += 32) {
    hashes.copy(leafInput, 1, o, o + 32);
    stack.push(sha256(leafInput));
    size++;
    let level = 0;
    for (let s = size; s % 2 === 0; s /= 2) {
      const right = stack.pop();
      stack.pop().copy(nodeInput, 1);
      right.copy(nodeInput, 33);
      const merged = sha256(nodeInput);
      stack.push(merged);
      level++;
      if (level >= workerData.storedLevel) {
        const index = size / 2 ** level - 1;
        const kept = stored.get(level + '/' + index);
        if (kept !== undefined && kept !== merged.toString('hex')) mismatches.push([level, index]);
      }
    }
    if (wanted.has(size)) roots.push([size, root().toString('hex')]);
  }
});
`;

export interface MerkleWorkerResult {
  /** Leaves pushed. */
  size: number;
  /** Root hash (hex) at each wanted size the tree reached. */
  roots: Map<number, string>;
  /** Stored subtrees (level ≥ storedLevel) that differ from the recomputed ones. */
  mismatches: { level: number; index: number }[];
}

export interface MerkleWorker {
  /** Appends entry hashes (32 bytes each, in order) as leaves. The buffer is handed over. */
  push(entryHashes: Buffer): void;
  finish(): Promise<MerkleWorkerResult>;
  terminate(): Promise<void>;
}

export function startMerkleWorker(init: { sizes: number[]; stored: Map<string, Buffer>; storedLevel: number }): MerkleWorker {
  const worker = new Worker(SOURCE, {
    eval: true,
    workerData: { sizes: init.sizes, storedLevel: init.storedLevel, stored: [...init.stored].map(([k, v]) => [k, v.toString('hex')]) },
  });
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the tree worker stopped (exit ${code})`)));
  });
  failed.catch(() => undefined);
  return {
    push(entryHashes) {
      const copy = entryHashes.buffer.slice(entryHashes.byteOffset, entryHashes.byteOffset + entryHashes.length) as ArrayBuffer;
      worker.postMessage({ type: 'leaves', hashes: copy }, [copy]);
    },
    async finish() {
      const result = new Promise<{ size: number; roots: [number, string][]; mismatches: [number, number][] }>((resolve) => worker.once('message', resolve));
      worker.postMessage({ type: 'end' });
      const r = await Promise.race([result, failed]);
      return { size: r.size, roots: new Map(r.roots), mismatches: r.mismatches.map(([level, index]) => ({ level, index })) };
    },
    async terminate() {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}
