/**
 * @module The simulation's virtual clock: real time plus jumps to deadlines. The offset lives in
 * a SharedArrayBuffer, so members in worker threads read the very clock the aggregator reads
 * (`VirtualClock.attach`): a jump is seen by every thread at once, with no message to lose.
 */

/** The aggregator's and the members' clock: real time plus jumps to deadlines. */
export class VirtualClock {
  private readonly offset: BigInt64Array;
  /** The shared offset (ms), to hand to worker threads. */
  readonly shared: SharedArrayBuffer;

  constructor(shared: SharedArrayBuffer = new SharedArrayBuffer(8)) {
    this.shared = shared;
    this.offset = new BigInt64Array(shared);
  }

  /** A view of another thread's clock (reads only; jumps belong to the harness). */
  static attach(shared: SharedArrayBuffer): VirtualClock {
    return new VirtualClock(shared);
  }

  readonly now = (): number => Date.now() + Number(Atomics.load(this.offset, 0));

  /** Moves time forward to `t` (never back). */
  jumpTo(t: number): void {
    const d = Math.ceil(t - this.now());
    if (d > 0) Atomics.add(this.offset, 0, BigInt(d));
  }
}
