// Library entry of the agent-mesh SDK (package export "."). Browser-free Node 20 code on the
// global fetch; it loads nothing of the server (types only from src/registry/types.ts).
export { MeshClient, backoffDelay, parseRetryAfter } from './client.js';
export type { CallOptions, EventsOptions, FetchOptions, MeshClientOptions, RegisterOptions, RetryPolicy, StreamOptions } from './client.js';
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
export { parseSse } from './sse.js';
export type { SseEvent } from './sse.js';
export type * from './types.js';
