// Entry of agent-mesh-sdk (ESM `import` and CommonJS `require`). Node 20+ code on the global
// fetch; it shares no code with the server, only the wire types generated from its OpenAPI
// document (wire.gen.ts).
export { MeshClient, backoffDelay, parseRetryAfter } from './client.js';
export type {
  CallOptions,
  EventsOptions,
  FetchOptions,
  MeshClientOptions,
  RegisterOptions,
  RetryPolicy,
  SendCallOptions,
  StreamOptions,
} from './client.js';
export { MeshAgent, generateInstanceId } from './agent.js';
export type {
  HandlerContext,
  LeaderChange,
  MeshAgentEventName,
  MeshAgentEvents,
  MeshAgentOptions,
  MessageHandler,
  RequestOptions,
  RequestTarget,
  SendOptions,
} from './agent.js';
export {
  MeshApiError,
  MeshClosedError,
  MeshError,
  MeshHandlerError,
  MeshNetworkError,
  MeshTimeoutError,
  isConnectFailure,
} from './errors.js';
export type { NetworkErrorKind } from './errors.js';
export { BUILTIN_MESSAGE_TYPES, isMessageTypeName, messageTypeName, toMessageType } from './message-types.js';
export type { MessageTypeName } from './message-types.js';
export { closeOnSignals } from './signals.js';
export type { Closeable, SignalName } from './signals.js';
export { parseSse } from './sse.js';
export type { SseEvent } from './sse.js';
export type * from './types.js';
