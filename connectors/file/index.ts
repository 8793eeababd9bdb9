// The file connector type (CSV and JSON Lines in a folder), as the registry sees it.
import { defineConnectorType } from '../spi/connector-type.js';
import { MEMBERSHIPS_CLASS } from '../spi/records.js';
import { invalid } from '../../shared/errors.js';
import { fileConfig } from './file-config.js';
import { CONNECTOR_CAPABILITIES, createFileConnector } from './file-connector.js';

export const fileConnectorType = defineConnectorType({
  type: 'file',
  title: 'CSV and JSON Lines files',
  description: 'Exports dropped in a folder (an HR system, a nightly job): each file an object class that sync flows read.',
  config: fileConfig,
  capabilities: CONNECTOR_CAPABILITIES,
  check(config, field) {
    const seen = new Set<string>();
    config.objectClasses.forEach((c, i) => {
      if (seen.has(c.name)) throw invalid(`${field}.objectClasses[${i}].name`, `names the object class ${c.name} a second time`);
      seen.add(c.name);
      if (c.name === MEMBERSHIPS_CLASS) throw invalid(`${field}.objectClasses[${i}].name`, `${MEMBERSHIPS_CLASS} is the name of a connector's own memberships; choose another name`);
      if (c.cursor && c.key.includes(c.cursor)) throw invalid(`${field}.objectClasses[${i}].cursor`, 'must not be one of the key fields');
    });
  },
  create: (config, context) => createFileConnector(config, context.label),
});
