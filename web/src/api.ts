// The UI talks to the REST API only. Every call goes through here.
export interface DependencyStatus {
  status: 'up' | 'down';
  mode: 'embedded' | 'external' | 'local-dev';
  version?: string;
  detail?: string;
}

export interface Readiness {
  status: 'ready' | 'not-ready';
  /** Given to signed-in callers only (versions and errors are not for anonymous probes). */
  dependencies?: Record<'postgres' | 'temporal' | 'vault', DependencyStatus>;
  warnings?: string[];
}

export async function fetchReadiness(signal?: AbortSignal): Promise<Readiness> {
  const res = await fetch('/readyz', { headers: { Accept: 'application/json' }, signal });
  if (res.status !== 200 && res.status !== 503) throw new Error(`/readyz answered HTTP ${res.status}`);
  return (await res.json()) as Readiness;
}

/** The signed-in person (or token), as GET /api/auth/session describes them. */
export interface Caller {
  principal: { kind: 'human' | 'token' | 'system'; id: string; displayName?: string; email?: string; roles: string[]; scopes?: string[] };
  via: 'session' | 'api-token';
  csrfToken?: string;
  provider?: string | null;
  expiresAt?: string;
}

export interface Providers {
  providers: { id: string; name: string }[];
  oneTimeLink: boolean;
}

async function errorMessage(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: { message?: string } };
    return body.error?.message ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

/** Who is signed in, or undefined when nobody is. */
export async function fetchCaller(signal?: AbortSignal): Promise<Caller | undefined> {
  const res = await fetch('/api/auth/session', { headers: { Accept: 'application/json' }, signal });
  if (res.status === 401) return undefined;
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as Caller;
}

export async function fetchProviders(signal?: AbortSignal): Promise<Providers> {
  const res = await fetch('/api/auth/providers', { headers: { Accept: 'application/json' }, signal });
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as Providers;
}

/** Where the browser goes to sign in with a provider, and comes back to afterwards. */
export const signInUrl = (providerId: string, returnTo = '/') => `/api/auth/oidc/${encodeURIComponent(providerId)}/sign-in?returnTo=${encodeURIComponent(returnTo)}`;

/** Ends the session; answers the provider's own sign-out page when it has one. */
export async function signOut(csrfToken: string): Promise<{ providerSignOutUrl?: string }> {
  const res = await fetch('/api/auth/session', { method: 'DELETE', headers: { Accept: 'application/json', 'X-CSRF-Token': csrfToken } });
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as { providerSignOutUrl?: string };
}

export async function redeemOneTimeLink(token: string): Promise<void> {
  const res = await fetch('/api/auth/one-time-link', {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (!res.ok) throw new Error(await errorMessage(res));
}

/** Why a sign-in was refused, in words, for the reason codes the callback sends back. */
export const SIGN_IN_ERRORS: Record<string, string> = {
  state_mismatch: "The provider's answer did not match the sign-in this browser started. Please sign in again.",
  nonce_mismatch: "The provider's ID token was not issued for this sign-in. Please sign in again.",
  id_token_expired: "The provider's ID token had already expired. Check the clocks of Gatehouse and the provider, then sign in again.",
  wrong_audience: "The provider's ID token was issued to another application. Ask your administrator to check Gatehouse's client settings.",
  wrong_issuer: 'The ID token came from a different issuer than the one configured.',
  invalid_id_token: "The provider's ID token could not be validated.",
  access_denied: 'The provider did not let you sign in to Gatehouse.',
  attempt_missing: 'This sign-in was not started in this browser, took longer than 10 minutes, or was already used. Please sign in again.',
  account_disabled: 'Your Gatehouse account is disabled. Ask a Gatehouse admin.',
  provider_error: 'The provider could not complete the sign-in. Please try again, or ask your administrator.',
};

/** One request the signed-in person may decide now, as GET /api/approvals lists it. */
export interface InboxItem {
  id: string;
  change: { kind: string; target: { accountName?: string } };
  subject: { type: string; id: string; displayName?: string };
  connector: { id: string; name?: string };
  entitlement?: string;
  requester: { kind: string; id: string };
  justification?: string;
  reasons: string[];
  sodConflicts: { id: string; description?: string; entitlements: string[]; effect: string }[];
  policy: { name: string; versionHash: string };
  stage: { index: number; name: string; quorum: number; approvals: number; escalated: boolean; deadlineAt: string; of: number };
  decisions: { stage: string; userId: string; displayName?: string; verdict: string; reason: string }[];
  eligibleAs: string;
  createdAt: string;
}

/** The approval inbox; undefined when the caller has no approver role. */
export async function fetchInbox(signal?: AbortSignal): Promise<InboxItem[] | undefined> {
  const res = await fetch('/api/approvals', { headers: { Accept: 'application/json' }, signal });
  if (res.status === 403) return undefined;
  if (!res.ok) throw new Error(await errorMessage(res));
  return ((await res.json()) as { approvals: InboxItem[] }).approvals;
}

/** An admin change waiting for the caller's decision, as GET /api/admin-changes/inbox lists it. */
export interface AdminChangeItem {
  id: string;
  action: string;
  summary: string;
  reasons: string[];
  policy: { name: string; versionHash: string };
  proposedBy: { kind: string; id: string; name?: string };
  stage: { index: number; name: string; quorum: number; approvals: number; escalated: boolean; deadlineAt: string; of: number };
  youMayDecide: { allowed: true; as: string };
  createdAt: string;
}

/** The admin changes the caller may decide now; undefined when the caller may not decide at all. */
export async function fetchAdminChangeInbox(signal?: AbortSignal): Promise<AdminChangeItem[] | undefined> {
  const res = await fetch('/api/admin-changes/inbox', { headers: { Accept: 'application/json' }, signal });
  if (res.status === 403) return undefined;
  if (!res.ok) throw new Error(await errorMessage(res));
  return ((await res.json()) as { adminChanges: AdminChangeItem[] }).adminChanges;
}

/** Approves or denies the open stage of an admin change; the reason goes on record. */
export const decideAdminChange = (csrfToken: string, id: string, verdict: 'approve' | 'deny', reason: string) =>
  postDecision(`/api/admin-changes/${encodeURIComponent(id)}/decision`, csrfToken, verdict, reason);

/** Approves or denies the open stage of a request; the reason goes on record. */
export const decideApproval = (csrfToken: string, id: string, verdict: 'approve' | 'deny', reason: string) =>
  postDecision(`/api/approvals/${encodeURIComponent(id)}/decision`, csrfToken, verdict, reason);

async function postDecision(url: string, csrfToken: string, verdict: 'approve' | 'deny', reason: string): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken },
    body: JSON.stringify({ verdict, reason }),
  });
  if (!res.ok) throw new Error(await errorMessage(res));
}

/** One item of the NHI and credential inventory, as GET /api/inventory/credentials lists it (the fields the page shows). */
export interface InventoryItem {
  id: string;
  source: 'managed' | 'discovered' | 'vault';
  kind: string;
  name: string;
  connector: { id: string; name: string; type: string } | null;
  account: { uid: string | null; name: string | null; enabled: boolean | null } | null;
  owners: { directoryId: string; userId: string; userName: string | null; displayName: string | null; status: 'active' | 'inactive' | 'gone' }[];
  ownerActive: boolean | null;
  createdAt: string | null;
  lastRotatedAt: string | null;
  lastUsedAt: string | null;
  ageDays: number | null;
  maxAgeDays: number | null;
  entitlements: { uid: string; name: string; privileged: boolean }[];
  privileged: boolean;
  usedBy: { kind: string; name: string }[];
  findings: string[];
  rotation: { rotatable: boolean; inProgress: string | null; last: { status: string; finishedAt?: string; startedAt: string } | null } | null;
  canRotate: boolean;
}

export interface Inventory {
  generatedAt: string;
  /** What each finding means. */
  findings: Record<string, string>;
  items: InventoryItem[];
}

/** The inventory's filters, as query parameters (empty ones left out). */
export function inventoryQuery(filters: Record<string, string>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v.trim()) params.set(k, v.trim());
  return params.toString();
}

export async function fetchInventory(filters: Record<string, string>, signal?: AbortSignal): Promise<Inventory> {
  const res = await fetch(`/api/inventory/credentials?${inventoryQuery(filters)}`, { headers: { Accept: 'application/json' }, signal });
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as Inventory;
}

/** Where the browser downloads the same list as a file. */
export const inventoryExportUrl = (filters: Record<string, string>, format: 'csv' | 'json') => `/api/inventory/credentials/export?${inventoryQuery({ ...filters, format })}`;

/** A sync flow in force, as GET /api/flows lists it (the fields the page shows). */
export interface FlowItem {
  name: string;
  versionHash: string;
  publishedAt: string;
  publishedBy: { kind: string; id: string; name?: string };
  version: {
    document: {
      description?: string;
      source: { connector: string; objectClass: string };
      target: { connector: string; objectClass: string; operation: string };
      trigger: { type: string; cron?: string; timezone?: string; auth?: string };
      filter?: string;
      mapping?: string;
      fields?: Record<string, { classification: string; rule: string }>;
    };
  };
}

export interface FlowRunItem {
  id: string;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  endedAt?: string;
  startedBy: { kind: string; id: string; name?: string };
  pages: number;
  read: number;
  skipped: number;
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  deadLettered: number;
  accessChanges: { total: number; applied: number; awaitingApproval: number; inProgress: number; refused: number; failed: number };
  plan?: {
    state: 'awaiting-approval' | 'approved' | 'not-needed' | 'rejected' | 'expired';
    digest: string;
    counts: FlowPreviewResult['counts'];
    read: number;
    moreAfter: boolean;
    reasons: string[];
    deadlineAt?: string;
    decidedBy?: { kind: string; id: string; name?: string };
    reason?: string | null;
    driftedFrom?: string;
  };
  error?: string;
}

export interface DeadLetterItem {
  id: string;
  stage: 'map' | 'write';
  error: string;
  record: Record<string, unknown>;
  status: string;
  attempts: number;
  createdAt: string;
  reason?: string;
}

export interface FlowPreviewResult {
  sample: { situation: string; record: Record<string, unknown>; source?: Record<string, unknown>; error?: string }[];
  read: number;
  moreAfter: boolean;
  targetKind: string;
  counts: { create: number; update: number; unchanged: number; kept: number; delete: number; grant: number; skipped: number; refused: number };
}

async function getJson<T>(url: string, signal?: AbortSignal): Promise<T | undefined> {
  const res = await fetch(url, { headers: { Accept: 'application/json' }, signal });
  if (res.status === 403) return undefined;
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as T;
}

async function postJson<T>(url: string, csrfToken: string, body: unknown = {}): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: { Accept: 'application/json', 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(await errorMessage(res));
  return (await res.json()) as T;
}

const flowPath = (name: string) => `/api/flows/${encodeURIComponent(name)}`;

/** The flows in force; undefined when the caller may not read flows. */
export const fetchFlows = async (signal?: AbortSignal) => (await getJson<{ flows: FlowItem[] }>('/api/flows', signal))?.flows;
export const fetchFlowRuns = async (name: string, signal?: AbortSignal) => (await getJson<{ runs: FlowRunItem[] }>(`${flowPath(name)}/runs`, signal))?.runs ?? [];
export const fetchDeadLetters = async (name: string, signal?: AbortSignal) => (await getJson<{ deadLetters: DeadLetterItem[] }>(`${flowPath(name)}/dead-letters`, signal))?.deadLetters ?? [];
export const startFlowRun = (csrfToken: string, name: string, refresh = false) => postJson<FlowRunItem>(`${flowPath(name)}/runs`, csrfToken, refresh ? { refresh } : {});
export const previewFlow = (csrfToken: string, name: string) => postJson<FlowPreviewResult>(`${flowPath(name)}/preview`, csrfToken, { limit: 500 });
/** A draft flow (a JSON or YAML document) previewed without publishing it: each source record beside its result. */
export const previewFlowDraft = (csrfToken: string, document: string) => postJson<FlowPreviewResult>('/api/flows/preview-draft', csrfToken, { document, limit: 20 });
export const decideFlowPlan = (csrfToken: string, name: string, runId: string, verdict: 'approve' | 'reject', digest: string, reason?: string) =>
  postJson<FlowRunItem>(`${flowPath(name)}/runs/${encodeURIComponent(runId)}/plan-decision`, csrfToken, { verdict, digest, ...(reason ? { reason } : {}) });
export const replayDeadLetter = (csrfToken: string, name: string, id: string) =>
  postJson<{ status: string; error?: string; outcome?: string }>(`${flowPath(name)}/dead-letters/${encodeURIComponent(id)}/replay`, csrfToken);
export const discardDeadLetter = (csrfToken: string, name: string, id: string, reason: string) =>
  postJson<DeadLetterItem>(`${flowPath(name)}/dead-letters/${encodeURIComponent(id)}/discard`, csrfToken, { reason });
