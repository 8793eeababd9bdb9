// The outcome of a connector's live probe, as the probe activity returns it and the API shows it:
// either what the target said about itself, or the named error it failed with. Never a secret.
import { z } from 'zod';
import { CONNECTOR_ERROR_CODES } from '../spi/errors.js';
import { probeResult } from '../spi/objects.js';

export const probeOutcome = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), probe: probeResult }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.enum(CONNECTOR_ERROR_CODES), message: z.string() }) }),
]);
export type ProbeOutcome = z.infer<typeof probeOutcome>;

/** Runs the probe of an instance where its secrets may be read (a Temporal activity), and says which run did it. */
export type RunProbe = (instanceId: string) => Promise<{ workflowId: string; outcome: ProbeOutcome }>;
