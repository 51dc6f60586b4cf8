/** Code shared by the testbed's folders (node-agent, switch-emulator, controller, images). */
export { formatOperatingError, OperatingError, type OperatingErrorOptions } from "./operating-error.js";
