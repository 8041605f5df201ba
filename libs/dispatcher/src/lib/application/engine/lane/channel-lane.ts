import { arrive, flushBatch } from './arrival';
import { answered, committed, crashed, cut } from './attempt';
import { handedOver, holdCheck, slowCheck } from './hold';
import type { Effect, LaneEvent, World } from './lane-protocol';
import { LaneState, Step } from './lane-state';
import { claimed, claimFailed, expired, handedOff, wake } from './line';
import { assertNever, pump } from './sending';

/**
 * One channel, as the owner of its partition runs it: a state machine that, given an event and the
 * world as it is at that moment, changes its own state and says what must be done — the effects —
 * without doing any of it. No I/O, no clock, no timer, no randomness: time, the channel, the
 * budget's room and a random draw come in as values; requests, writes, timers and events go out as
 * effects, which the runtime (`LaneRuntime`) carries out, reporting their ends as more events.
 *
 * Every decision ends the same way: the queue is pumped (what can go now is launched; what cannot
 * go at all is handed off to the line), and the parked line is looked at (what is due is claimed as
 * the channel has room; otherwise a wake-up is asked for when the next row becomes due).
 */
export class ChannelLane extends LaneState {
  decide(event: LaneEvent, world: World): Effect[] {
    const step: Step = { world, room: { ...world.room }, fx: [] };
    this.revision++;
    if (world.channel) this.breaker.configure(world.channel.circuitBreaker);
    const opened = this.breaker.tick(world.now);
    if (opened) this.circuitChanged(step, opened);
    this.apply(event, step);
    pump(this, step);
    wake(this, step);
    this.setTimer(step, 'halfOpen', this.breaker.halfOpensAt?.getTime() ?? null);
    return step.fx;
  }

  private apply(event: LaneEvent, step: Step): void {
    switch (event.kind) {
      case 'arrived':
        return arrive(this, event.delivery, step);
      case 'answered':
        return answered(this, event.work, event.result, event.at, event.random, step);
      case 'committed':
        return committed(this, event.work, step);
      case 'cut':
        return cut(this, event.work);
      case 'crashed':
        return crashed(this, event.work, step);
      case 'handedOff':
        return handedOff(this, event.works, event.parked, step);
      case 'holdCheck':
        return holdCheck(this, event.works, event.everything, step);
      case 'handedOver':
        return handedOver(this, event.running, event.waiting, step);
      case 'claimed':
        return claimed(this, event.works, event.readyAt, event.line, step);
      case 'claimFailed':
        return claimFailed(this, step);
      case 'lineLoaded':
        this.owned = true;
        this.line = { ...event.line };
        this.lastUsedAt = step.world.now;
        return;
      case 'partitionGained':
        this.owned = true;
        return;
      case 'partitionLost':
        // The new owner reads this partition's unacknowledged messages again at once. What this
        // lane holds of them is parked now — in flight under a lease, the rest in the line — so the
        // new owner finds them parked and leaves them to the line instead of sending them again.
        this.owned = false;
        this.setTimer(step, 'wake', null);
        return holdCheck(this, [...new Set(this.held.values())], true, step);
      case 'expired':
        return expired(this, event.count);
      case 'timer':
        this.timerFired(event.timer);
        if (event.timer === 'batch') flushBatch(this, step);
        return; // 'wake' and 'halfOpen': what every decision does
      case 'room':
        return;
      case 'slowCheck':
        return slowCheck(this, step);
      default:
        assertNever(event);
    }
  }
}
