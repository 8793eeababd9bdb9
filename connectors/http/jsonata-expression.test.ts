// The mapping sandbox: an expression cannot reach or replace its own budget, runaway expressions
// stop, and a failing mapping reports where it failed, never the values it was given.
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
