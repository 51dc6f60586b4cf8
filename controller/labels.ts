/**
 * Labels stamped on everything the testbed creates. Teardown and the sweep of a crashed run select
 * by `mbft.testbed=<name>` only, so nothing without our label is ever touched.
 */
export const LABEL_TESTBED = "mbft.testbed";
export const LABEL_RUN = "mbft.run";
export const LABEL_ROLE = "mbft.role";
export const LABEL_NODE = "mbft.node";
export const LABEL_NIC = "mbft.nic";
export const LABEL_CONFIG = "mbft.config-digest";

export type ResourceRole = "node" | "network" | "coprocessor" | "cm" | "client";

export function testbedFilter(name: string): string {
  return `${LABEL_TESTBED}=${name}`;
}

export function labels(options: {
  testbed: string;
  run: string;
  role: ResourceRole;
  extra?: Record<string, string>;
}) {
  return {
    [LABEL_TESTBED]: options.testbed,
    [LABEL_RUN]: options.run,
    [LABEL_ROLE]: options.role,
    ...options.extra,
  };
}
