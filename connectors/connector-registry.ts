// The connector types a Gatehouse knows, by name. Built once by the composition root from the
// built-in types (and any a deployment adds); looked up by the instance service and the factory.
import { invalid } from '../shared/errors.js';
import type { ConnectorType } from './spi/connector-type.js';

export interface ConnectorRegistry {
  get(type: string, field?: string): ConnectorType;
  list(): ConnectorType[];
}

export function createConnectorRegistry(types: readonly ConnectorType[]): ConnectorRegistry {
  const byName = new Map<string, ConnectorType>();
  for (const t of types) {
    if (byName.has(t.type)) throw new Error(`connector type ${t.type} is registered twice`);
    byName.set(t.type, t);
  }
  return {
    get(type, field = 'type') {
      const t = byName.get(type);
      if (!t) throw invalid(field, `unknown connector type ${JSON.stringify(type)}; known types: ${[...byName.keys()].join(', ')}`);
      return t;
    },
    list: () => [...byName.values()],
  };
}
