// A small but real HTTP user directory, run by the HTTP connector's tests as its target system:
// users and groups over JSON, bearer tokens (one read-write, one read-only, and admin tokens issued
// and revoked through the API, several valid at once), cursor paging, Idempotency-Key replay on
// creation, hashed passwords and a login endpoint to check them by.
import http from 'node:http';
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';

export interface DirectoryUser {
  id: string;
  userName: string;
  email: string;
  displayName?: string;
  active: boolean;
  groups: string[];
  passwordHash?: string;
}

export interface IssuedToken {
  id: string;
  token: string;
  role: 'admin' | 'reader';
}

export interface UserDirectoryServer {
  url: string;
  tokens: { admin: string; reader: string };
  /** Every valid token by id; the two above are `t-admin` and `t-reader`. */
  issued: Map<string, IssuedToken>;
  /** Token ids the server refuses to revoke (423 Locked), as a system does for a key still in use. */
  lockedTokens: Set<string>;
  users: Map<string, DirectoryUser>;
  groups: Map<string, { id: string; name: string; admin: boolean; members: Set<string> }>;
  /** Idempotency keys of every change the server received, in order. */
  idempotencyKeys: string[];
  stop(): Promise<void>;
}

const hash = (password: string) => {
  const salt = randomBytes(16);
  return `${salt.toString('hex')}:${scryptSync(password, salt, 32).toString('hex')}`;
};
const verify = (password: string, stored: string) => {
  const [salt, digest] = stored.split(':');
  return timingSafeEqual(scryptSync(password, Buffer.from(salt!, 'hex'), 32), Buffer.from(digest!, 'hex'));
};

export async function startUserDirectoryServer(): Promise<UserDirectoryServer> {
  const tokens = { admin: randomBytes(16).toString('hex'), reader: randomBytes(16).toString('hex') };
  const issued = new Map<string, IssuedToken>([
    ['t-admin', { id: 't-admin', token: tokens.admin, role: 'admin' }],
    ['t-reader', { id: 't-reader', token: tokens.reader, role: 'reader' }],
  ]);
  const lockedTokens = new Set<string>();
  let nextToken = 1;
  const users = new Map<string, DirectoryUser>();
  const groups = new Map<string, { id: string; name: string; admin: boolean; members: Set<string> }>();
  groups.set('g-engineers', { id: 'g-engineers', name: 'engineers', admin: false, members: new Set() });
  groups.set('g-admins', { id: 'g-admins', name: 'admins', admin: true, members: new Set() });
  const replay = new Map<string, { status: number; body: unknown }>();
  const idempotencyKeys: string[] = [];
  let nextId = 1;

  const view = (u: DirectoryUser) => ({ id: u.id, userName: u.userName, email: u.email, displayName: u.displayName, active: u.active, groups: [...u.groups] });
  const app = express();
  app.use(express.json());
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.path === '/api/login') return next();
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const holder = [...issued.values()].find((t) => t.token === token);
    if (!holder) return void res.status(401).json({ error: 'unauthenticated' });
    if (req.method !== 'GET' && holder.role !== 'admin') return void res.status(403).json({ error: 'read-only token' });
    res.locals.tokenId = holder.id;
    const key = req.headers['idempotency-key'];
    if (typeof key === 'string' && req.method !== 'GET') idempotencyKeys.push(key);
    next();
  });

  const page = <T>(items: T[], req: Request) => {
    const limit = Math.min(Number(req.query.limit ?? 50) || 50, 500);
    const start = Number(req.query.cursor ?? 0) || 0;
    const slice = items.slice(start, start + limit);
    return { slice, next: start + limit < items.length ? String(start + limit) : null };
  };

  app.get('/api/users', (req, res) => {
    let all = [...users.values()];
    if (typeof req.query.userName === 'string') all = all.filter((u) => u.userName === req.query.userName);
    const { slice, next } = page(all, req);
    res.json({ users: slice.map(view), next });
  });
  app.get('/api/users/:id', (req, res) => {
    const u = users.get(req.params.id);
    if (!u) return void res.status(404).json({ error: 'no such user' });
    res.json(view(u));
  });
  app.post('/api/users', (req, res) => {
    const key = req.headers['idempotency-key'];
    const seen = typeof key === 'string' ? replay.get(key) : undefined;
    if (seen) return void res.status(seen.status).json(seen.body);
    const { userName, email, displayName, active, password } = req.body as Record<string, unknown>;
    if (typeof userName !== 'string' || !userName || typeof email !== 'string' || !email.includes('@')) {
      return void res.status(400).json({ error: 'userName and a valid email are required' });
    }
    if ([...users.values()].some((u) => u.userName === userName)) return void res.status(409).json({ error: 'userName taken' });
    const user: DirectoryUser = { id: `u-${nextId++}`, userName, email, active: active !== false, groups: [], ...(typeof displayName === 'string' ? { displayName } : {}) };
    if (typeof password === 'string') user.passwordHash = hash(password);
    users.set(user.id, user);
    const answer = { status: 201, body: view(user) };
    if (typeof key === 'string') replay.set(key, answer);
    res.status(answer.status).json(answer.body);
  });
  app.patch('/api/users/:id', (req, res) => {
    const u = users.get(req.params.id);
    if (!u) return void res.status(404).json({ error: 'no such user' });
    const { email, displayName } = req.body as Record<string, unknown>;
    if (email !== undefined && (typeof email !== 'string' || !email.includes('@'))) return void res.status(400).json({ error: 'invalid email' });
    if (typeof email === 'string') u.email = email;
    if (typeof displayName === 'string') u.displayName = displayName;
    res.json(view(u));
  });
  for (const [verb, active] of [['enable', true], ['disable', false]] as const) {
    app.post(`/api/users/:id/${verb}`, (req, res) => {
      const u = users.get(req.params.id);
      if (!u) return void res.status(404).json({ error: 'no such user' });
      const changed = u.active !== active;
      u.active = active;
      res.json({ changed });
    });
  }
  app.delete('/api/users/:id', (req, res) => {
    const u = users.get(req.params.id);
    if (!u) return void res.status(404).json({ error: 'no such user' });
    users.delete(u.id);
    for (const g of groups.values()) g.members.delete(u.id);
    res.status(204).end();
  });
  app.get('/api/groups', (req, res) => {
    const { slice, next } = page([...groups.values()], req);
    res.json({ groups: slice.map((g) => ({ id: g.id, name: g.name, admin: g.admin })), next });
  });
  app.put('/api/groups/:gid/members/:uid', (req, res) => {
    const g = groups.get(req.params.gid);
    const u = users.get(req.params.uid);
    if (!g || !u) return void res.status(404).json({ error: 'no such group or user' });
    const changed = !g.members.has(u.id);
    g.members.add(u.id);
    if (changed) u.groups.push(g.id);
    res.status(changed ? 201 : 200).json({ changed });
  });
  app.delete('/api/groups/:gid/members/:uid', (req, res) => {
    const g = groups.get(req.params.gid);
    const u = users.get(req.params.uid);
    if (!g || !u) return void res.status(404).json({ error: 'no such group or user' });
    const changed = g.members.delete(u.id);
    u.groups = u.groups.filter((id) => id !== g.id);
    res.json({ changed });
  });
  app.get('/api/whoami', (_req, res) => {
    res.json({ tokenId: res.locals.tokenId as string });
  });
  app.post('/api/tokens', (_req, res) => {
    const t: IssuedToken = { id: `t-${nextToken++}`, token: randomBytes(24).toString('base64url'), role: 'admin' };
    issued.set(t.id, t);
    res.status(201).json({ id: t.id, token: t.token });
  });
  app.delete('/api/tokens/:id', (req, res) => {
    if (!issued.has(req.params.id)) return void res.status(404).json({ error: 'no such token' });
    if (lockedTokens.has(req.params.id)) return void res.status(423).json({ error: 'this token is locked and cannot be revoked' });
    issued.delete(req.params.id);
    res.status(204).end();
  });
  app.post('/api/login', (req, res) => {
    const { userName, password } = req.body as Record<string, string>;
    const u = [...users.values()].find((x) => x.userName === userName);
    if (!u?.passwordHash || !verify(String(password), u.passwordHash)) return void res.status(401).json({ error: 'bad credentials' });
    if (!u.active) return void res.status(403).json({ error: 'disabled' });
    res.json({ ok: true });
  });

  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    tokens,
    issued,
    lockedTokens,
    users,
    groups,
    idempotencyKeys,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
