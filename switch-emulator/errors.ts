/**
 * Typed operating errors of the switch emulator, each with a stable code and a hint. A failed
 * command leaves the previous configuration in force (nothing is half-applied).
 */
import { OperatingError, type OperatingErrorOptions } from "../common/index.js";

export class SwitchError extends OperatingError {
  override readonly name = "SwitchError";

  constructor(options: OperatingErrorOptions) {
    super(options, 400);
  }
}

export const switchErrors = {
  unknownPort: (port: string) =>
    new SwitchError({
      code: "SWITCH_UNKNOWN_PORT",
      message: `port ${port} does not exist`,
      hint: "ports are <node>/<nic> with nic one of nic1, nic2, nic3; `testbed switch show` lists them",
      statusCode: 404,
    }),
  badPortName: (port: string) =>
    new SwitchError({
      code: "SWITCH_BAD_PORT_NAME",
      message: `"${port}" is not a port name`,
      hint: "write ports as <node>/<nic>, e.g. n0/nic1",
    }),
  badRate: (text: string) =>
    new SwitchError({
      code: "SWITCH_BAD_RATE",
      message: `bad rate "${text}"`,
      hint: "give a rate in Mbit/s between 0.1 and 10000, e.g. 100 or 100mbit or 1gbit; `none` removes the limit",
    }),
  badPartition: (detail: string) =>
    new SwitchError({
      code: "SWITCH_BAD_PARTITION",
      message: `bad partition: ${detail}`,
      hint: "a partition names two disjoint, non-empty groups of ports: partition <name> a,b -- c,d",
    }),
  unknownPartition: (name: string) =>
    new SwitchError({
      code: "SWITCH_UNKNOWN_PARTITION",
      message: `partition ${name} does not exist`,
      hint: "`testbed switch show` lists the partitions",
      statusCode: 404,
    }),
  bridgeFilterMissing: (detail: string) =>
    new SwitchError({
      code: "SWITCH_BRIDGE_FILTER_MISSING",
      message: `bridged traffic does not reach iptables: ${detail}`,
      hint: "load br_netfilter (`modprobe br_netfilter`) and set net.bridge.bridge-nf-call-iptables=1; `npm run setup` does both",
      statusCode: 500,
    }),
  applyFailed: (what: string, detail: string, cause?: unknown) =>
    new SwitchError({
      code: "SWITCH_APPLY_FAILED",
      message: `applying the switch configuration failed at ${what}: ${detail}`,
      hint: "the previous configuration was restored; run as root with iptables and tc installed (`npm run setup`)",
      statusCode: 500,
      cause,
    }),
  stateCorrupt: (path: string, detail: string) =>
    new SwitchError({
      code: "SWITCH_STATE_CORRUPT",
      message: `switch state file ${path} is unusable: ${detail}`,
      hint: "remove the testbed (`testbed down`) and bring it up again",
      statusCode: 500,
    }),
};
