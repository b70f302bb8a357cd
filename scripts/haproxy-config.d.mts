export interface HaproxyConfigOptions {
  /** Health check path (default /readyz). */
  healthPath?: string;
  /** Health check interval in ms (default 500). */
  checkIntervalMs?: number;
}

/** haproxy.cfg text for a round-robin balancer on 127.0.0.1:port in front of the given ports. */
export function haproxyConfig(port: number, backendPorts: number[], opts?: HaproxyConfigOptions): string;
