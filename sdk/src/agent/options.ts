// The public shapes of MeshAgent: its options, events, handlers and call options.
import type { MeshAgent } from '../agent.js';
import type { MeshClientOptions } from '../client.js';
import type { MessageTypeName } from '../message-types.js';
import type { SignalName } from '../signals.js';
import type { AgentCard, AgentMessage, HeartbeatRequest, Json, MeshEvent, MessageType, SendResponse } from '../types.js';
import type { LeaderChange } from './leadership.js';

export interface MeshAgentOptions {
  /** Registry (or load balancer) base URL. */
  url: string;
  /** Default `<hostname>-<uuid>`, like the seed. */
  instanceId?: string;
  hostname: string;
  port: number;
  capabilities?: string[];
  agentProfiles?: string[];
  /**
   * The agent's A2A v1.0 Agent Card, registered with it (and again whenever it re-registers).
   * Other agents find it by its skill ids and tags (`listAgents({skill})`), read it
   * (`getAgentCard(id)`), and reach it with `sendToCapability(<skill id or tag>)`.
   */
  agentCard?: AgentCard;
  /**
   * Bearer for registering (AUTH_MODE=token: the shared token, used for every call;
   * AUTH_MODE=instance: the registration token if the server wants one). In instance mode the
   * agent uses the instance token returned by register for everything else.
   */
  token?: string | null;
  /** Heartbeat period (default 5000 ms), each tick jittered by ±10%. */
  heartbeatIntervalMs?: number;
  /** What each heartbeat reports (default `{status: 'healthy', metrics: null}`). */
  status?: () => HeartbeatRequest | Promise<HeartbeatRequest>;
  /**
   * Local leadership lease: a leader whose heartbeats have not been acknowledged for this long
   * steps down locally ('lost-leadership'), because the registry may already have replaced it.
   * Default 3 heartbeat intervals; keep it below the server's STALE_TIMEOUT_MS.
   */
  leaderLeaseMs?: number;
  /** Long-poll wait in seconds (default 25, max 60). */
  pollWaitSeconds?: number;
  /** Messages per fetch (default 100, max 1000). */
  fetchLimit?: number;
  /** Handlers running at once (default 8). Use 1 for strictly sequential handling. */
  concurrency?: number;
  /** Default timeout of request() (default 30000 ms). */
  requestTimeoutMs?: number;
  /** Follow GET /registry/events when the server has it (default true; a 404 turns it off). */
  watchEvents?: boolean;
  /** How long close() lets running handlers finish before deregistering (default 5000 ms). */
  closeDrainMs?: number;
  /**
   * Wait for the registry at start (like nats.js' waitOnFirstConnect): join()/start() keep
   * trying to register while the registry is unreachable or answers 5xx, instead of failing
   * after the client's few retries (~1 s). `true`: until it works or close() is called; a number:
   * give up after that many ms. A 4xx (bad registration, wrong token) still fails at once.
   * Each failed attempt is reported on 'error' (when listened to). Default false.
   */
  waitForRegistry?: boolean | number;
  /**
   * close() the agent (deregister) when the process gets one of these signals, then let the
   * signal do what it would have done (exit). `true` = ['SIGINT', 'SIGTERM']. Default off.
   * See also the closeOnSignals() helper for several agents.
   */
  closeOnSignals?: boolean | readonly SignalName[];
  /** Transport settings (timeouts, retries, custom fetch). */
  client?: Omit<MeshClientOptions, 'url' | 'token'>;
}

export interface HandlerContext {
  agent: MeshAgent;
  /** Sends a Response to the message's source with its correlation_id. */
  respond(payload: Json): Promise<SendResponse>;
  /** Aborted when the agent closes. */
  signal: AbortSignal;
}

export type MessageHandler = (message: AgentMessage, ctx: HandlerContext) => unknown;

export interface MeshAgentEvents {
  /**
   * This agent became leader. An election that happened inside join() is emitted again for
   * listeners attached right after `await MeshAgent.join()` (before awaiting anything else).
   */
  leader: [LeaderChange];
  /** This agent is no longer leader (another was elected, it was evicted, or its lease lapsed locally). */
  'lost-leadership': [LeaderChange];
  /** Any change of leader or term. */
  'leader-changed': [LeaderChange];
  /** Registered again after the registry forgot this instance. */
  reregistered: [{ id: string; leaderId: string | null; term: number }];
  /** Transport failures, handler failures (MeshHandlerError). Only emitted while someone listens. */
  error: [Error];
  /** A message no handler took (it is acked). */
  unhandled: [AgentMessage];
  /** An entry of the membership feed (when the server has /registry/events). */
  membership: [MeshEvent];
}

export type MeshAgentEventName = keyof MeshAgentEvents;

export interface SendOptions {
  correlationId?: string | null;
  /**
   * Idempotency-Key of this send. Default: a fresh one per call, so the client's retries (after
   * timeouts and 5xx) never queue it twice. Give your own to make a later call, or another
   * process, a retry of this one; null: no key (retried only when the connection never opened).
   */
  idempotencyKey?: string | null;
}

export interface RequestOptions {
  /** Default: the agent's requestTimeoutMs (30 s). */
  timeoutMs?: number;
  /** Default Query. */
  type?: MessageType | MessageTypeName;
}

/** Where a request goes: an instance id, or the least-loaded holder of a capability. */
export type RequestTarget = string | { capability: string };
