// Every test process: the Temporal SDK logs warnings and errors only, and leaves signals alone.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
} catch {
  // Already installed in this process (a second suite in the same fork).
}
