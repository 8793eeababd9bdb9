// `gatehouse directory …`: create and list directories (identity-provider connections), and issue,
// list and revoke the bearer tokens their SCIM clients use.
import type { Command } from 'commander';
import { createDirectoryService } from '../../scim/directory-service.js';
import { SCIM_MOUNT_PATH } from '../../scim/index.js';
import { publicUrl } from '../config.js';
import { cliActor, refuseHeldChange, withCliContext } from './common.js';

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}
const json = (value: unknown) => out(JSON.stringify(value, null, 2));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function registerDirectoryCommands(program: Command): void {
  const directory = program.command('directory').description('identity-provider connections (SCIM directories) and their bearer tokens');

  directory
    .command('create <name>')
    .description('create a directory: one identity-provider connection and the tenant its users and groups live in')
    .option('--sign-in-issuer <issuer...>', "OpenID issuers whose signed-in people are linked to this directory's identities (by verified e-mail)")
    .option('--json', 'print the result as JSON')
    .action((name: string, opts: { json?: boolean; signInIssuer?: string[] }) =>
      withCliContext(async (ctx) => {
        const d = await createDirectoryService({ orm: ctx.orm, ledger: ctx.ledger }).createDirectory(name, cliActor(), opts.signInIssuer ? { signInIssuers: opts.signInIssuer } : {});
        if (opts.json) return json(d);
        out(`created directory "${d.name}" (${d.id})`);
        if (!d.signInIssuers.length) out(`nobody who signs in is linked to its people yet: gatehouse directory sign-in-issuers "${d.name}" <issuer>`);
        out(`next: gatehouse directory token create "${d.name}"`);
      }),
    );

  directory
    .command('sign-in-issuers <directory> [issuers...]')
    .description("name the OpenID issuers whose signed-in people are linked to the directory's identities (replaces the list; none unlinks everyone)")
    .option('--json', 'print the result as JSON')
    .action((directoryRef: string, issuers: string[], opts: { json?: boolean }) =>
      withCliContext(async (ctx) => {
        const d = await createDirectoryService({ orm: ctx.orm, ledger: ctx.ledger }).setSignInIssuers(directoryRef, issuers, cliActor());
        if (opts.json) return json(d);
        out(d.signInIssuers.length ? `directory "${d.name}" links people who sign in through ${d.signInIssuers.join(', ')}` : `directory "${d.name}" links nobody who signs in`);
      }),
    );

  directory
    .command('list')
    .description('list directories with their user, group and active token counts')
    .option('--json', 'print the result as JSON')
    .action((opts: { json?: boolean }) =>
      withCliContext(async (ctx) => {
        const list = await createDirectoryService({ orm: ctx.orm, ledger: ctx.ledger }).listDirectories();
        if (opts.json) return json(list);
        if (!list.length) return out('no directories yet: gatehouse directory create <name>');
        out(
          table([
            ['ID', 'NAME', 'USERS', 'GROUPS', 'TOKENS', 'SIGN-IN ISSUERS', 'CREATED'],
            ...list.map((d) => [d.id, d.name, String(d.userCount), String(d.groupCount), String(d.activeTokenCount), d.signInIssuers.join(',') || 'none (links nobody)', d.createdAt]),
          ]),
        );
      }),
    );

  const token = directory.command('token').description("a directory's bearer tokens");

  token
    .command('create <directory>')
    .description('issue a bearer token for a directory (by name or id); the token is printed once and only its hash is kept')
    .option('--label <label>', 'what the token is for, e.g. "Okta production"')
    .option('--json', 'print the result as JSON')
    .action((directoryRef: string, opts: { label?: string; json?: boolean }) =>
      withCliContext(async (ctx, { config }) => {
        await refuseHeldChange(ctx.orm, 'createScimTokens', 'POST /api/directories/{directory id}/tokens');
        const { token: t, secret, directory: d } = await createDirectoryService({ orm: ctx.orm, ledger: ctx.ledger }).createToken(directoryRef, cliActor(), opts.label === undefined ? {} : { label: opts.label });
        const scimBaseUrl = `${publicUrl(config)}${SCIM_MOUNT_PATH}`;
        if (opts.json) return json({ token: t, secret, scimBaseUrl });
        out(`token for directory "${d.name}" (token id ${t.id}):`);
        out('');
        out(`  ${secret}`);
        out('');
        out('This is the only time it is shown: paste it into your identity provider now.');
        out(`SCIM base URL: ${scimBaseUrl}`);
        out(`Revoke it with: gatehouse directory token revoke ${t.id}`);
      }),
    );

  token
    .command('list <directory>')
    .description("list a directory's tokens (never their values)")
    .option('--json', 'print the result as JSON')
    .action((directoryRef: string, opts: { json?: boolean }) =>
      withCliContext(async (ctx) => {
        const tokens = await createDirectoryService({ orm: ctx.orm, ledger: ctx.ledger }).listTokens(directoryRef);
        if (opts.json) return json(tokens);
        if (!tokens.length) return out('no tokens: gatehouse directory token create <directory>');
        out(table([['ID', 'LABEL', 'ENDS WITH', 'CREATED', 'LAST USED', 'REVOKED'], ...tokens.map((t) => [t.id, t.label ?? '-', t.hint, t.createdAt, t.lastUsedAt ?? 'never', t.revokedAt ?? '-'])]));
      }),
    );

  token
    .command('revoke <token-id>')
    .description('revoke a token: identity providers using it are refused from then on (running servers stop trusting it within seconds)')
    .option('--json', 'print the result as JSON')
    .action((tokenId: string, opts: { json?: boolean }) =>
      withCliContext(async (ctx) => {
        const t = await createDirectoryService({ orm: ctx.orm, ledger: ctx.ledger }).revokeToken(tokenId, cliActor());
        if (opts.json) return json(t);
        out(`revoked token ${t.id} (ending in ${t.hint}) at ${t.revokedAt}`);
      }),
    );
}
