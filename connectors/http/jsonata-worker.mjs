// The thread JSONata mappings run in (see jsonata-expression.ts). Plain JavaScript on purpose: a
// worker thread loads it in every way Gatehouse runs (node --import tsx, vitest, a bundle), and it
// imports nothing but jsonata.
//
// One job at a time: the main thread sends { id, source, input, bindings, timeoutMs, maxDepth } and
// waits for { id, ok, value | error }. The budget below is checked by JSONata's entry and exit hooks
// around every step; it lives in this module's scope, which an expression cannot reach or rebind. A
// single step that never returns (a regular expression that backtracks for minutes) is stopped by the
// main thread, which terminates this thread when its wall-clock limit passes.
import { parentPort } from 'node:worker_threads';
import jsonata from 'jsonata';

const compiled = new Map();
const MAX_CACHED = 500;
let budget;

function check() {
  if (!budget) throw { code: 'GH00', message: 'evaluated outside its budget' };
  if (budget.depth > budget.maxDepth) throw { code: 'GH01', message: `nested deeper than ${budget.maxDepth} steps` };
  if (Date.now() > budget.deadline) throw { code: 'GH02', message: `ran longer than ${budget.timeoutMs} ms` };
}

function expressionOf(source) {
  let expression = compiled.get(source);
  if (expression) return expression;
  expression = jsonata(source);
  expression.assign(Symbol.for('jsonata.__evaluate_entry'), () => {
    if (budget) budget.depth++;
    check();
  });
  expression.assign(Symbol.for('jsonata.__evaluate_exit'), () => {
    if (budget) budget.depth--;
    check();
  });
  if (compiled.size >= MAX_CACHED) compiled.clear();
  compiled.set(source, expression);
  return expression;
}

/** The error without the data: code, position, and our own messages (JSONata's quote values). */
function describe(err) {
  const e = typeof err === 'object' && err !== null ? err : {};
  const code = typeof e.code === 'string' ? e.code : undefined;
  return {
    ...(code ? { code } : {}),
    ...(typeof e.position === 'number' ? { position: e.position } : {}),
    ...(typeof e.token === 'string' ? { token: e.token } : {}),
    ...(code && code.startsWith('GH') && typeof e.message === 'string' ? { message: e.message } : {}),
  };
}

parentPort.on('message', async (job) => {
  budget = { deadline: Date.now() + job.timeoutMs, timeoutMs: job.timeoutMs, maxDepth: job.maxDepth, depth: 0 };
  let reply;
  try {
    const value = await expressionOf(job.source).evaluate(job.input, job.bindings);
    reply = { id: job.id, ok: true, value };
  } catch (err) {
    reply = { id: job.id, ok: false, error: describe(err) };
  } finally {
    budget = undefined;
  }
  try {
    parentPort.postMessage(reply);
  } catch {
    // A result that cannot leave the thread (a function, say) is a failure of the mapping.
    parentPort.postMessage({ id: job.id, ok: false, error: { code: 'GH03', message: 'produced a value that is not data (a function?)' } });
  }
});
