// The haproxy configuration used in front of local replicas, by `npm run stack` and by the tests'
// load balancer (test/helpers/lb.ts), so both behave the same. Plain JS: scripts run from node.
// deploy/haproxy.cfg is the compose variant (Docker DNS, one published port).

/**
 * @param {number} port  the port haproxy listens on (127.0.0.1)
 * @param {number[]} backendPorts  replica ports on 127.0.0.1; servers are named b1, b2, ...
 * @param {{ healthPath?: string, checkIntervalMs?: number }} [opts]
 * @returns {string}
 */
export function haproxyConfig(port, backendPorts, opts = {}) {
  const health = opts.healthPath ?? '/readyz';
  const inter = opts.checkIntervalMs ?? 500;
  const servers = backendPorts.map((p, i) => `    server b${i + 1} 127.0.0.1:${p} check`).join('\n');
  return `global
    maxconn 4096

defaults
    mode http
    option dontlognull
    # SSE and long-poll chunks go out as soon as they are written; nothing is buffered
    # (request buffering and compression are off by default and stay off).
    option http-no-delay
    # A fresh server connection per request: a killed replica then shows up as a refused
    # connect (safe to retry for any method) instead of a dead pooled connection, and we never
    # race Node's keep-alive timeout closing an idle socket just as haproxy reuses it.
    option http-server-close
    retries 3
    # Redispatch on every retry (not only the last): go to another server at once, without
    # haproxy's 1 s turn-around delay before retrying the same dead one.
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s
    timeout http-request 30s
    timeout http-keep-alive 10s
    timeout queue 10s
    timeout check 2s
    # No replica up: JSON {error, code} with Retry-After, like a replica's own 503.
    http-error status 503 content-type "application/json; charset=utf-8" string "{\\"error\\":\\"No registry replica is available; retry shortly\\",\\"code\\":\\"unavailable\\"}" hdr retry-after 1

frontend fe
    bind 127.0.0.1:${port}
    stats enable
    stats uri /__lb/stats
    default_backend be

backend be
    balance roundrobin
    option httpchk
    http-check send meth GET uri ${health} ver HTTP/1.1 hdr Host localhost
    http-check expect rstatus ^2
    # Connection failures are retried for every method (nothing reached the backend); a
    # request that died after it was sent is replayed only when that cannot duplicate work.
    http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS
    default-server inter ${inter}ms fastinter ${inter}ms downinter ${inter}ms fall 2 rise 2
${servers}
`;
}
