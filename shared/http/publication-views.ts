// How the API shows documents versioned by meaning (access policies, sync flows): a publication (who
// put which version in force, when, and why) and a version (its document and the text it was
// published as).
import { z } from 'zod';

export const publicationView = z.object({
  seq: z.number(),
  name: z.string(),
  versionHash: z.string(),
  publishedAt: z.string(),
  publishedBy: z.object({ kind: z.string(), id: z.string(), name: z.string().optional() }),
  note: z.string().optional(),
});

export const versionView = z.object({ name: z.string(), versionHash: z.string(), document: z.record(z.string(), z.unknown()), source: z.string(), createdAt: z.string() });
