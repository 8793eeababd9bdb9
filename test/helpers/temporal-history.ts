// Everything Temporal stored for a workflow, as text: the history's JSON plus every payload decoded
// from its bytes. Tests search it for secret values, which must never appear.
import type { WorkflowHandle } from '@temporalio/client';

function collect(value: unknown, out: string[], seen: Set<unknown>): void {
  if (value === null || value === undefined || seen.has(value)) return;
  if (value instanceof Uint8Array) {
    out.push(Buffer.from(value).toString('utf8'), Buffer.from(value).toString('base64'));
    return;
  }
  if (typeof value === 'string') {
    out.push(value);
    return;
  }
  if (typeof value !== 'object') return;
  seen.add(value);
  for (const v of Array.isArray(value) ? value : Object.values(value as Record<string, unknown>)) collect(v, out, seen);
}

export async function historyText(handle: WorkflowHandle): Promise<string> {
  const history = await handle.fetchHistory();
  const parts: string[] = [];
  collect(history, parts, new Set());
  return parts.join('\n');
}
