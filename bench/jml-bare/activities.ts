// No-op activities for the bare-Temporal baseline of the JML benchmark.
export const bareActivities = {
  async noop(): Promise<void> {},
};
export type BareActivities = typeof bareActivities;
