// The UI talks to the REST API only. Every call goes through here.
export interface DependencyStatus {
  status: 'up' | 'down';
  mode: 'embedded' | 'external' | 'local-dev';
  version?: string;
  detail?: string;
}

export interface Readiness {
  status: 'ready' | 'not-ready';
  dependencies: Record<'postgres' | 'temporal' | 'vault', DependencyStatus>;
  warnings: string[];
}

export async function fetchReadiness(signal?: AbortSignal): Promise<Readiness> {
  const res = await fetch('/readyz', { headers: { Accept: 'application/json' }, signal });
  if (res.status !== 200 && res.status !== 503) throw new Error(`/readyz answered HTTP ${res.status}`);
  return (await res.json()) as Readiness;
}
