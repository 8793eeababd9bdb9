// `gatehouse sign-in-link`: a new one-time admin sign-in link, for an operator who needs one again
// while no OpenID Provider is configured (the server prints one at every start in that case).
import type { Command } from 'commander';
import { GatehouseError } from '../../shared/errors.js';
import { publicUrl } from '../config.js';
import { bootstrapLinkUrl, createBootstrapLinkService } from '../auth/bootstrap-link-service.js';
import { withCliContext } from './common.js';

export function registerAuthCommands(program: Command): void {
  program
    .command('sign-in-link')
    .description('print a one-time admin sign-in link (only while no OpenID Provider is configured)')
    .action(async () => {
      await withCliContext(async (ctx, { config }) => {
        if (config.OIDC_ISSUERS.length) {
          throw new GatehouseError('conflict', 'one-time links are off once an OpenID Provider is configured (OIDC_ISSUERS): sign in with your provider');
        }
        const links = createBootstrapLinkService({ orm: ctx.orm, ttlMs: config.AUTH_BOOTSTRAP_LINK_MINUTES * 60_000 });
        const link = await links.issue('cli');
        process.stdout.write(`One-time admin sign-in link; it works once and expires at ${link.expiresAt.toISOString()}:\n\n  ${bootstrapLinkUrl(publicUrl(config), link.secret)}\n`);
      });
    });
}
