// This replica's message counts, read by /metrics at scrape time (the registry has no metrics
// dependency). Every part of the message service adds to the same object.

export interface MessageCounters {
  sent: number;
  delivered: number;
  acked: number;
  expired: number;
  rejected: number;
  /** Sends answered with the first result of their Idempotency-Key (nothing queued). */
  replayed: number;
}

export const newMessageCounters = (): MessageCounters => ({ sent: 0, delivered: 0, acked: 0, expired: 0, rejected: 0, replayed: 0 });
