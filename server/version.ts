// The running version, from package.json.
import { readFileSync } from 'node:fs';

export const GATEHOUSE_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
