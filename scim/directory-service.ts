// Directories and their tokens, for administrators (CLI and API): create, list, issue a token
// (shown once), revoke. Every method returns views without hashes.
import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { conflict, invalid, notFound } from '../shared/errors.js';
import { Directory } from './directory.entity.js';
import { DirectoryToken } from './directory-token.entity.js';
import { generateToken, hashToken } from './directory-token.js';
import type { Actor, LedgerAppender } from '../audit/index.js';

export const directoryViewSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  /** The OpenID issuers whose signed-in people are linked to identities here (by verified e-mail). */
  signInIssuers: z.array(z.string()),
  createdAt: z.string(),
  userCount: z.number().int(),
  groupCount: z.number().int(),
  activeTokenCount: z.number().int(),
});
export type DirectoryView = z.infer<typeof directoryViewSchema>;

export const tokenViewSchema = z.object({
  id: z.uuid(),
  directoryId: z.uuid(),
  label: z.string().nullable(),
  /** The token's last four characters. */
  hint: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
export type TokenView = z.infer<typeof tokenViewSchema>;

const noControlCharacters = (s: string) => !/\p{Cc}/u.test(s);

export const directoryNameSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .refine(noControlCharacters, 'must not contain control characters');

/** An OpenID issuer identifier, as its ID tokens carry it in `iss`. */
const issuerSchema = z
  .string()
  .trim()
  .max(400, 'must be at most 400 characters')
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.search && !u.hash;
    } catch {
      return false;
    }
  }, 'must be an issuer identifier: an https:// URL without query or fragment, exactly as the provider puts it in iss');

export const signInIssuersSchema = z
  .array(issuerSchema)
  .max(10, 'must name at most 10 issuers')
  .transform((list) => [...new Set(list)]);

export const tokenLabelSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .refine(noControlCharacters, 'must not contain control characters');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface DirectoryServiceDeps {
  orm: MikroORM;
  /** Every change to directories and tokens is a ledger entry, committed with the change. */
  ledger: LedgerAppender;
  /** Told when a token is revoked, so this process stops trusting it at once. */
  onTokenRevoked?: (tokenId: string) => void;
}

type TokenRow = { id: string; directoryId: string; label?: string | null; hint: string; createdAt: Date; lastUsedAt?: Date | null; revokedAt?: Date | null };

const iso = (d: Date | string | null | undefined) => (d == null ? null : new Date(d).toISOString());

function tokenView(t: TokenRow): TokenView {
  return {
    id: t.id,
    directoryId: t.directoryId,
    label: t.label ?? null,
    hint: t.hint,
    createdAt: iso(t.createdAt)!,
    lastUsedAt: iso(t.lastUsedAt),
    revokedAt: iso(t.revokedAt),
  };
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(field, r.error.issues[0]!.message);
  return r.data;
}

export function createDirectoryService(deps: DirectoryServiceDeps) {
  const em = () => deps.orm.em.fork();

  async function view(id?: string): Promise<DirectoryView[]> {
    const rows = await deps.orm.em.getConnection().execute<
      { id: string; name: string; sign_in_issuers: string[]; created_at: Date | string; users: number; groups: number; tokens: number }[]
    >(
      `SELECT d.id, d.name, d.sign_in_issuers, d.created_at,
              (SELECT count(*)::int FROM scim_user u WHERE u.directory_id = d.id) AS users,
              (SELECT count(*)::int FROM scim_group g WHERE g.directory_id = d.id) AS groups,
              (SELECT count(*)::int FROM scim_directory_token t WHERE t.directory_id = d.id AND t.revoked_at IS NULL) AS tokens
         FROM scim_directory d
        ${id ? 'WHERE d.id = ?' : ''}
        ORDER BY lower(d.name COLLATE pg_c_utf8)`,
      id ? [id] : [],
    );
    return rows.map((r) => ({ id: r.id, name: r.name, signInIssuers: r.sign_in_issuers, createdAt: iso(r.created_at)!, userCount: r.users, groupCount: r.groups, activeTokenCount: r.tokens }));
  }

  /** A directory by id, or by name (case-insensitive). */
  async function resolve(ref: string): Promise<{ id: string; name: string }> {
    const byId = UUID.test(ref) ? await em().findOne(Directory, { id: ref.toLowerCase() }) : null;
    if (byId) return byId;
    const rows = await deps.orm.em.getConnection().execute<{ id: string; name: string }[]>(
      'SELECT id, name FROM scim_directory WHERE lower(name COLLATE pg_c_utf8) = lower(? COLLATE pg_c_utf8)',
      [ref],
    );
    if (!rows[0]) throw notFound('directory', ref);
    return rows[0];
  }

  return {
    async createDirectory(name: unknown, actor: Actor, options: { signInIssuers?: unknown } = {}): Promise<DirectoryView> {
      const clean = parseWith(directoryNameSchema, name, 'name');
      const signInIssuers = options.signInIssuers === undefined ? [] : parseWith(signInIssuersSchema, options.signInIssuers, 'signInIssuers');
      const id = randomUUID();
      try {
        await em().transactional(async (e) => {
          e.create(Directory, { id, name: clean, signInIssuers });
          await e.flush();
          await deps.ledger.append(
            { action: 'directory.created', actor, target: { type: 'directory', id, display: clean }, details: { signInIssuers }, correlation: { directoryId: id } },
            { em: e },
          );
        });
      } catch (err) {
        if (err instanceof UniqueConstraintViolationException) throw conflict(`a directory named "${clean}" already exists (names are case-insensitive)`, 'name');
        throw err;
      }
      return (await view(id))[0]!;
    },

    listDirectories: () => view(),

    /**
     * Directories with people but no sign-in issuer: nobody who signs in is linked to those people.
     * /readyz asks on every probe, so only the directories naming no issuer have their people counted.
     */
    async linkingNobody(): Promise<{ name: string; userCount: number }[]> {
      const rows = await deps.orm.em.getConnection().execute<{ name: string; users: number }[]>(
        `SELECT d.name, (SELECT count(*)::int FROM scim_user u WHERE u.directory_id = d.id) AS users
           FROM scim_directory d WHERE cardinality(d.sign_in_issuers) = 0 ORDER BY lower(d.name COLLATE pg_c_utf8)`,
      );
      return rows.filter((r) => r.users > 0).map((r) => ({ name: r.name, userCount: r.users }));
    },

    /** Names the OpenID issuers whose people are linked to this directory's identities (replacing the list), on record. */
    async setSignInIssuers(ref: string, issuers: unknown, actor: Actor): Promise<DirectoryView> {
      const signInIssuers = parseWith(signInIssuersSchema, issuers, 'signInIssuers');
      const directory = await resolve(ref);
      await em().transactional(async (e) => {
        const conn = e.getConnection();
        const ctx = e.getTransactionContext();
        const [before] = await conn.execute<{ sign_in_issuers: string[] }[]>('SELECT sign_in_issuers FROM scim_directory WHERE id = ? FOR UPDATE', [directory.id], 'all', ctx);
        // A list goes in as one JSON parameter: the driver would spread an array into several.
        await conn.execute('UPDATE scim_directory SET sign_in_issuers = ARRAY(SELECT jsonb_array_elements_text(?::jsonb)) WHERE id = ?', [JSON.stringify(signInIssuers), directory.id], 'run', ctx);
        await deps.ledger.append(
          {
            action: 'directory.sign_in_issuers.changed',
            actor,
            target: { type: 'directory', id: directory.id, display: directory.name },
            details: { before: before?.sign_in_issuers ?? [], after: signInIssuers },
            correlation: { directoryId: directory.id },
          },
          { em: e },
        );
      });
      return (await view(directory.id))[0]!;
    },

    async getDirectory(ref: string): Promise<DirectoryView> {
      const d = await resolve(ref);
      return (await view(d.id))[0]!;
    },

    /** Issues a token. The secret is returned this once; only its hash is kept. */
    async createToken(directoryRef: string, actor: Actor, options: { label?: unknown } = {}): Promise<{ token: TokenView; secret: string; directory: { id: string; name: string } }> {
      const label = options.label === undefined || options.label === null ? null : parseWith(tokenLabelSchema, options.label, 'label');
      const directory = await resolve(directoryRef);
      const secret = generateToken();
      const row = await em().transactional(async (e) => {
        const created = e.create(DirectoryToken, {
          id: randomUUID(),
          directoryId: directory.id,
          tokenHash: hashToken(secret),
          hint: secret.slice(-4),
          label,
        });
        await e.flush();
        await deps.ledger.append(
          {
            action: 'directory.token.created',
            actor,
            target: { type: 'directoryToken', id: created.id, ...(label ? { display: label } : {}) },
            details: { hint: created.hint },
            correlation: { directoryId: directory.id },
          },
          { em: e },
        );
        return created;
      });
      return { token: tokenView(row), secret, directory };
    },

    async listTokens(directoryRef: string): Promise<TokenView[]> {
      const directory = await resolve(directoryRef);
      const rows = await em().find(DirectoryToken, { directoryId: directory.id }, { orderBy: { createdAt: 'asc' }, exclude: ['tokenHash'] });
      return rows.map((r) => tokenView(r));
    },

    /** Revokes a token (idempotent); requests with it are refused from then on. */
    async revokeToken(tokenId: string, actor: Actor, options: { directoryId?: string } = {}): Promise<TokenView> {
      if (!UUID.test(tokenId)) throw notFound('token', tokenId);
      const token = await em().findOne(DirectoryToken, { id: tokenId.toLowerCase(), ...(options.directoryId ? { directoryId: options.directoryId } : {}) }, { exclude: ['tokenHash'] });
      if (!token) throw notFound('token', tokenId);
      if (!token.revokedAt) {
        token.revokedAt = await em().transactional(async (e) => {
          const rows = await e.getConnection().execute<{ revoked_at: Date }[]>(
            'UPDATE scim_directory_token SET revoked_at = now() WHERE id = ? AND revoked_at IS NULL RETURNING revoked_at',
            [token.id],
            'all',
            e.getTransactionContext(),
          );
          // Another revocation got there first: it is on the ledger already.
          if (rows[0]) {
            await deps.ledger.append(
              { action: 'directory.token.revoked', actor, target: { type: 'directoryToken', id: token.id }, correlation: { directoryId: token.directoryId } },
              { em: e },
            );
          }
          return rows[0]?.revoked_at ?? new Date();
        });
      }
      deps.onTokenRevoked?.(token.id);
      return tokenView(token);
    },
  };
}

export type DirectoryService = ReturnType<typeof createDirectoryService>;
