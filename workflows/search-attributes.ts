// Custom search attributes Gatehouse sets on its workflows, so runs can be listed by kind and subject.
// The dev server is started with them; against a cluster they are registered at start.
export const SEARCH_ATTRIBUTES = {
  /** What the workflow does: selfcheck, jml, approval, rotation, sync, reconcile. */
  GatehouseKind: 'Keyword',
  /** The business key the workflow is about, e.g. identity:<directory>:<id>. */
  GatehouseSubject: 'Keyword',
} as const;
