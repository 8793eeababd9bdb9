// Vitest's global setup: the shared real services, started once per run and provided to every
// suite (see test/helpers/services.ts for what a suite takes from them).
import type { TestProject } from 'vitest/node';
import { startSharedServices, type SharedServices } from './helpers/start-services.js';

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  export interface ProvidedContext extends SharedServices {}
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const { services, stop } = await startSharedServices();
  for (const [key, value] of Object.entries(services) as [keyof SharedServices, string][]) project.provide(key, value);
  console.log(`test services ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return stop;
}
