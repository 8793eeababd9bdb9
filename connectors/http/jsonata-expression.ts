// JSONata expressions from a connector's configuration, compiled once and evaluated with a time and
// depth budget: an administrator's mapping must not be able to stall a worker. JSONata calls the
// `__evaluate_entry`/`__evaluate_exit` hooks around every step; the budget for one evaluation
// travels in that evaluation's own bindings, so concurrent evaluations do not share it.
import jsonata from 'jsonata';
import { GatehouseError, invalid } from '../../shared/errors.js';

const GUARD = '__gatehouseBudget';

interface Budget {
  deadline: number;
  depth: number;
}

export interface CompiledExpression {
  readonly field: string;
  evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
}

export interface ExpressionLimits {
  timeoutMs: number;
  maxDepth: number;
}

const DEFAULT_LIMITS: ExpressionLimits = { timeoutMs: 1000, maxDepth: 300 };

export function compileExpression(source: string, field: string, limits: ExpressionLimits = DEFAULT_LIMITS): CompiledExpression {
  let expression: jsonata.Expression;
  try {
    expression = jsonata(source);
  } catch (err) {
    throw invalid(field, `is not a valid JSONata expression (${(err as { message?: string }).message ?? String(err)})`);
  }
  const check = (budget: Budget) => {
    if (budget.depth > limits.maxDepth) throw { code: 'GH01', message: `nested deeper than ${limits.maxDepth} steps` };
    if (Date.now() > budget.deadline) throw { code: 'GH02', message: `ran longer than ${limits.timeoutMs} ms` };
  };
  type Env = { lookup(name: string): unknown };
  const assign = expression.assign as unknown as (name: symbol, value: unknown) => void;
  assign.call(expression, Symbol.for('jsonata.__evaluate_entry'), (_e: unknown, _i: unknown, env: Env) => {
    const budget = env.lookup(GUARD) as Budget | undefined;
    if (!budget) return;
    budget.depth++;
    check(budget);
  });
  assign.call(expression, Symbol.for('jsonata.__evaluate_exit'), (_e: unknown, _i: unknown, env: Env) => {
    const budget = env.lookup(GUARD) as Budget | undefined;
    if (!budget) return;
    budget.depth--;
    check(budget);
  });
  return {
    field,
    async evaluate(input, bindings = {}) {
      try {
        return await expression.evaluate(input, { ...bindings, [GUARD]: { deadline: Date.now() + limits.timeoutMs, depth: 0 } satisfies Budget });
      } catch (err) {
        const e = err as { message?: string; code?: string };
        throw new GatehouseError('invalid_request', `${field}: the mapping failed (${e.message ?? String(err)})`, { field });
      }
    },
  };
}
