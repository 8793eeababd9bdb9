// JSONata expressions from a connector's configuration, compiled once and evaluated with a time and
// depth budget: an administrator's mapping must not be able to stall a worker. JSONata calls the
// `__evaluate_entry`/`__evaluate_exit` hooks around every step. The budget for one evaluation lives
// in an AsyncLocalStorage the evaluation runs in, not in its bindings: an expression can rebind any
// name it can see (`$__budget := {}`), so nothing it can see may hold its limits.
// Failures name the JSONata error code and the character it happened at, never its message: those
// quote the values being mapped, which can be a newly issued credential.
import { AsyncLocalStorage } from 'node:async_hooks';
import jsonata from 'jsonata';
import { GatehouseError, invalid } from '../../shared/errors.js';

interface Budget {
  deadline: number;
  depth: number;
}

const budgets = new AsyncLocalStorage<Budget>();

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
  const assign = expression.assign as unknown as (name: symbol, value: unknown) => void;
  assign.call(expression, Symbol.for('jsonata.__evaluate_entry'), () => {
    const budget = budgets.getStore();
    if (!budget) throw { code: 'GH00', message: 'evaluated outside its budget' };
    budget.depth++;
    check(budget);
  });
  assign.call(expression, Symbol.for('jsonata.__evaluate_exit'), () => {
    const budget = budgets.getStore();
    if (!budget) throw { code: 'GH00', message: 'evaluated outside its budget' };
    budget.depth--;
    check(budget);
  });
  return {
    field,
    async evaluate(input, bindings = {}) {
      try {
        return await budgets.run({ deadline: Date.now() + limits.timeoutMs, depth: 0 }, () => expression.evaluate(input, bindings));
      } catch (err) {
        throw new GatehouseError('invalid_request', `${field}: the mapping failed (${describeFailure(err, source)})`, { field });
      }
    },
  };
}

/**
 * A failure without the data: our own budget messages whole; JSONata's by code and position, with
 * the token only where it is text of the expression itself (a function or field name the
 * configuration wrote, not a value it was given).
 */
function describeFailure(err: unknown, source: string): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; position?: unknown; token?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code?.startsWith('GH') && typeof e.message === 'string') return e.message;
  const at = typeof e.position === 'number' ? ` at character ${e.position}` : '';
  const token = typeof e.token === 'string' && e.token.length <= 64 && /^[$\w.]+$/.test(e.token) && source.includes(e.token) ? ` near "${e.token}"` : '';
  return code ? `JSONata ${code}${at}${token}` : 'an error without a JSONata code';
}
