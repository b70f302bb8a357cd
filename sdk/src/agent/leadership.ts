// Leadership as this agent knows it: the leader and term the registry reported, fenced by term so
// that stale news never wins, and a local lease so that a leader cut off from the registry steps
// down before the registry can have replaced it.

export interface LeaderChange {
  leaderId: string | null;
  term: number;
}

/** Told about changes as they are decided (MeshAgent emits them as its events). */
export interface LeadershipListener {
  /** This agent became leader. */
  elected(change: LeaderChange): void;
  /** This agent is no longer leader. */
  lost(change: LeaderChange): void;
  /** Any change of leader or term. */
  changed(change: LeaderChange): void;
}

export class LeaderTracker {
  private highestTerm = -1;
  private current: string | null = null;
  private leading = false;
  private lastAckAt = 0;

  constructor(
    private readonly selfId: string,
    /** How long a leader stays one locally without the registry acknowledging it. */
    private readonly leaseMs: number,
    private readonly listener: LeadershipListener,
    private readonly now: () => number = Date.now,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  get leaderId(): string | null {
    return this.current;
  }

  /** Highest term seen (-1 before the first registration). */
  get term(): number {
    return this.highestTerm;
  }

  /** The registry acknowledged this agent (a registration or a heartbeat): the lease runs from now. */
  acknowledged(): void {
    this.lastAckAt = this.now();
  }

  /**
   * Takes leader info from the registry. Terms are fencing tokens: info with a lower term than
   * the highest seen is stale and ignored; within one term only a vacancy (leader null) is news.
   * `resetFence` (a registration after a 404) accepts any term: this registry starts the terms
   * after a data loss above every earlier one, but a server that restarts them at 1 (older
   * versions) would otherwise be fenced out forever; the new registration is the first truth.
   */
  update(leaderId: string | null, term: number, resetFence = false): void {
    if (!resetFence) {
      if (term < this.highestTerm) return;
      if (term === this.highestTerm && leaderId !== null && this.current !== null && leaderId !== this.current) return;
    }
    const previous = this.current;
    const previousTerm = this.highestTerm;
    const was = this.leading;
    this.highestTerm = term;
    this.current = leaderId;
    this.leading = leaderId === this.selfId;
    const change: LeaderChange = { leaderId, term };
    if (was && !this.leading) this.listener.lost(change);
    if (previous !== leaderId || previousTerm !== term) this.listener.changed(change);
    if (!was && this.leading) this.listener.elected(change);
  }

  /** A leader whose lease lapsed (no acknowledgement for leaseMs) steps down locally. */
  checkLease(): void {
    if (this.leading && this.now() - this.lastAckAt > this.leaseMs) this.stepDown();
  }

  /** Stops leading without news from the registry (the registration is gone, the agent closes). */
  stepDown(): void {
    if (!this.leading) return;
    this.leading = false;
    this.listener.lost({ leaderId: null, term: this.highestTerm });
  }
}
