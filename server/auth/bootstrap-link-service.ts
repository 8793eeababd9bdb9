// One-time admin sign-in links, for a Gatehouse with no OpenID Provider configured yet. A link is
// 256 random bits in the URL fragment; PostgreSQL keeps its hash, so any replica can redeem it,
// and only once: redeeming one also retires every other unused link.
import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { BootstrapLink } from './bootstrap-link.entity.js';
import { randomSecret, secretHash } from './secret-values.js';

export interface BootstrapLinkServiceDeps {
  orm: MikroORM;
  ttlMs: number;
  now?: () => Date;
}

/** The web page that redeems a link; the secret rides in the fragment, which browsers never send to servers or proxies. */
export const bootstrapLinkUrl = (publicUrl: string, secret: string) => `${publicUrl}/sign-in/link#token=${secret}`;

export function createBootstrapLinkService(deps: BootstrapLinkServiceDeps) {
  const now = deps.now ?? (() => new Date());

  return {
    async issue(createdBy: string): Promise<{ secret: string; expiresAt: Date }> {
      const secret = randomSecret();
      const at = now();
      const em = deps.orm.em.fork();
      const link = em.create(BootstrapLink, {
        id: randomUUID(),
        tokenHash: secretHash(secret),
        createdBy,
        createdAt: at,
        expiresAt: new Date(at.getTime() + deps.ttlMs),
      });
      await em.flush();
      return { secret, expiresAt: link.expiresAt };
    },

    /** True when the link was live and is now used; one UPDATE, so two replicas cannot both redeem it. */
    async redeem(secret: string): Promise<boolean> {
      const at = now();
      return deps.orm.em.fork().transactional(async (em) => {
        const used = await em.nativeUpdate(BootstrapLink, { tokenHash: secretHash(secret), usedAt: null, expiresAt: { $gt: at } }, { usedAt: at });
        if (!used) return false;
        await em.nativeUpdate(BootstrapLink, { usedAt: null }, { usedAt: at });
        return true;
      });
    },
  };
}

export type BootstrapLinkService = ReturnType<typeof createBootstrapLinkService>;
