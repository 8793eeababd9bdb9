// The mapping sandbox: an expression cannot reach or replace its own budget, runaway expressions
// stop (even a single step that never returns, without blocking the process), and a failing mapping
// reports where it failed, never the values it was given.
import { describe, expect, it } from 'vitest';
import { compileExpression } from './jsonata-expression.js';

const limits = { timeoutMs: 500, maxDepth: 200 };
const failure = async (source: string, input: unknown = {}, bindings: Record<string, unknown> = {}): Promise<Error> => {
  const err = await compileExpression(source, 'config.credentials.map', limits).evaluate(input, bindings).catch((e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error;
};

describe('JSONata mappings', () => {
  it('evaluate with the bindings they are given', async () => {
    expect(await compileExpression('{"id": id, "secret": $token}', 'f', limits).evaluate({ id: 7 }, { token: 't' })).toEqual({ id: 7, secret: 't' });
  });

  it('stop endless recursion even when the expression rebinds or reads every name it can reach', async () => {
    for (const source of [
      '($f := function($n) { $f($n + 1) }; $f(0))',
      '($__gatehouseBudget := {}; $f := function($n) { $f($n + 1) }; $f(0))',
      '($__gatehouseBudget := {"deadline": 1e300, "depth": -1e300}; $f := function($n) { $f($n + 1) }; $f(0))',
    ]) {
      const err = await failure(source);
      expect(err.message, source).toMatch(/nested deeper than 200 steps|ran longer than 500 ms/);
    }
  });

  it('stop a loop that never nests: the deadline holds', async () => {
    const err = await failure('$count([1..5000000].($ + 1))');
    expect(err.message).toMatch(/ran longer than 500 ms|nested deeper than/);
  });

  it('stop a single step that never comes back, while the rest of the process keeps running (a hard wall-clock limit)', async () => {
    // One call into the regular-expression engine: it backtracks for tens of seconds and calls no hook.
    const source = `$contains("${'x'.repeat(31)}", /(x+x+)+y/)`;
    let ticks = 0;
    const ticking = setInterval(() => ticks++, 20);
    const started = Date.now();
    const err = await failure(source);
    const took = Date.now() - started;
    clearInterval(ticking);
    expect(err.message).toMatch(/ran longer than 500 ms and was stopped/);
    expect(took).toBeLessThan(3000);
    // The event loop was never blocked: the timer fired all along (one tick per 20 ms; a sixth of that
    // leaves room for a loaded machine, and a blocked loop ticks once at most).
    expect(ticks).toBeGreaterThanOrEqual(Math.max(3, Math.floor(took / 20 / 6)));
    // The stopped thread is replaced: the next mapping runs.
    expect(await compileExpression('$uppercase(name)', 'f', limits).evaluate({ name: 'ok' })).toBe('OK');
  });

  it('refuse input and results that are not data', async () => {
    expect((await failure('function($x) { $x }')).message).toMatch(/not data/);
  });

  it('report a failure by code and position, never the values it was given', async () => {
    const secret = 'hvs.a-newly-issued-credential-9f8e7d';
    for (const source of ['$number(secret)', 'secret + 1', '$substring(secret, "x")', '$error(secret)', '$assert(false, secret)']) {
      const err = await failure(source, { secret });
      expect(err.message, source).not.toContain(secret);
      expect(err.message, source).not.toContain('9f8e7d');
      expect(err.message, source).toMatch(/^config\.credentials\.map: the mapping failed \(JSONata [A-Z]\d{4} at character \d+/);
    }
  });
});
