// `gatehouse token …`: API tokens from the command line, for operators wiring up automation. The
// operator already holds the database credentials, so the CLI may grant any permission a token can
// carry (the API limits an admin to permissions they hold themselves).
import os from 'node:os';
import type { Command } from 'commander';
import { adminAbilityFor } from '../../policies/admin-ability.js';
import { tokenScopesSchema } from '../../policies/token-scopes.js';
import { invalid } from '../../shared/errors.js';
import { createApiTokenService } from '../auth/api-token-service.js';
import { ledgerAuthEvents, type Actor } from '../auth/auth-events.js';
import { refuseHeldChange, withCliContext } from './common.js';

const operator = (): Actor => ({ kind: 'system', id: `cli:${os.userInfo().username}` });

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('API tokens for automation: create (shown once), list, revoke');

  token
    .command('create')
    .description('create an API token scoped to named permissions; prints the token once')
    .requiredOption('--name <name>', 'what the token is for, e.g. "terraform"')
    .requiredOption('--scope <permission...>', 'permissions as action:Subject, e.g. read:LedgerEntry manage:Directory')
    .option('--expires-in-days <days>', 'days until it expires (default 90, or AUTH_API_TOKEN_MAX_DAYS when shorter)')
    .option('--json', 'print the token and its record as JSON')
    .action(async (options: { name: string; scope: string[]; expiresInDays?: string; json?: boolean }) => {
      await withCliContext(async (ctx, { config, log }) => {
        await refuseHeldChange(ctx.orm, 'createApiTokens', 'POST /api/tokens');
        const scopes = tokenScopesSchema.safeParse(options.scope);
        if (!scopes.success) throw invalid('--scope', scopes.error.issues[0]!.message);
        const days = options.expiresInDays === undefined ? undefined : Number(options.expiresInDays);
        if (days !== undefined && (!Number.isInteger(days) || days < 1)) throw invalid('--expires-in-days', 'must be a whole number of days, at least 1');
        const service = createApiTokenService({ orm: ctx.orm, events: ledgerAuthEvents(ctx.ledger, log), maxDays: config.AUTH_API_TOKEN_MAX_DAYS });
        const by = operator();
        const created = await service.create({ name: options.name.trim(), scopes: scopes.data, expiresInDays: days, by, creatorAbility: adminAbilityFor({ kind: 'system', id: by.id, roles: [] }) });
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ ...created.view, token: created.token }, null, 2)}\n`);
          return;
        }
        process.stdout.write(
          `API token ${created.view.id} (${created.view.name}), scopes ${created.view.scopes.join(' ')}, expires ${created.view.expiresAt}.\n` +
            `Store it now; Gatehouse keeps only its hash and cannot show it again:\n\n${created.token}\n`,
        );
      });
    });

  token
    .command('list')
    .description('list API tokens (never the tokens themselves)')
    .action(async () => {
      await withCliContext(async (ctx, { config, log }) => {
        const service = createApiTokenService({ orm: ctx.orm, events: ledgerAuthEvents(ctx.ledger, log), maxDays: config.AUTH_API_TOKEN_MAX_DAYS });
        for (const t of await service.list()) {
          process.stdout.write(`${t.id}  ${t.status.padEnd(7)}  ${t.hint}…  ${t.name}  [${t.scopes.join(' ')}]  expires ${t.expiresAt}  last used ${t.lastUsedAt ?? 'never'}\n`);
        }
      });
    });

  token
    .command('revoke <id>')
    .description('revoke an API token at once')
    .action(async (id: string) => {
      await withCliContext(async (ctx, { config, log }) => {
        const service = createApiTokenService({ orm: ctx.orm, events: ledgerAuthEvents(ctx.ledger, log), maxDays: config.AUTH_API_TOKEN_MAX_DAYS });
        if (!/^[0-9a-f-]{36}$/i.test(id)) throw invalid('id', 'must be a token id (see `gatehouse token list`)');
        const revoked = await service.revoke(id, operator());
        process.stdout.write(`revoked ${revoked.id} (${revoked.name}) at ${revoked.revokedAt}\n`);
      });
    });
}
