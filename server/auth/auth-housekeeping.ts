// Clears what sign-in leaves behind: sign-in attempts never finished, sessions long over, spent
// one-time links, and rate-limit windows that have passed. Every replica may run it; each delete is
// idempotent, so running it twice at once is harmless.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.js';
import type { BackgroundService } from '../modules.js';

const EVERY_MS = 10 * 60_000;

export async function sweepAuthLeftovers(orm: MikroORM): Promise<Record<string, number>> {
  const connection = orm.em.getConnection();
  const count = async (sql: string) => {
    const rows = await connection.execute<{ n: string }[]>(`WITH gone AS (${sql} RETURNING 1) SELECT count(*) AS n FROM gone`);
    return Number(rows[0]?.n ?? 0);
  };
  return {
    attempts: await count('DELETE FROM auth_sign_in_attempt WHERE expires_at < now()'),
    // A day's grace, so a session's end can still be looked up by whoever investigates it.
    sessions: await count(`DELETE FROM auth_session WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day'`),
    links: await count(`DELETE FROM auth_bootstrap_link WHERE expires_at < now() - interval '1 day' OR used_at < now() - interval '1 day'`),
    rateLimits: await count('DELETE FROM auth_rate_limit WHERE reset_at < now()'),
  };
}

export function authHousekeeping(deps: { orm: MikroORM; log: Logger; everyMs?: number }): BackgroundService {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const sweep = () => {
    running = sweepAuthLeftovers(deps.orm).then(
      (removed) => deps.log.debug({ removed }, 'auth housekeeping'),
      (err: unknown) => deps.log.warn({ err }, 'auth housekeeping failed; it runs again later'),
    );
  };
  return {
    name: 'auth housekeeping',
    async start() {
      timer = setInterval(sweep, deps.everyMs ?? EVERY_MS);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
