/** The transport layer's public surface: the Transport interface and the TCP implementation. */
export { FrameSplitter } from "./frame-splitter.js";
export {
  COALESCE_BYTES_MAX,
  FRAME_BYTES_MAX,
  FRAME_PREFIX_BYTES,
  TCP_LIMITS_DEFAULT,
  type TcpLimits,
  tcpLimitsProblem,
} from "./limits.js";
export {
  createTcpTransport,
  decodeHello,
  encodeHello,
  type PeerAddress,
  type PeerResolver,
  type TcpCounters,
  type TcpTransport,
  type TcpTransportOptions,
  type TransportLogger,
} from "./tcp.js";
export { type FrameOrigin, principalKey, type RoutingTransport, type Transport } from "./transport.js";
