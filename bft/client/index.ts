export {
  CERTIFICATE_RETRIES,
  Client,
  type ClientConfig,
  type ClientDeps,
  type ClientEffect,
  type ClientInput,
  type ClientMetrics,
  type ClientTimerId,
  defaultClientConfig,
  validateClientConfig,
} from "./client.js";
