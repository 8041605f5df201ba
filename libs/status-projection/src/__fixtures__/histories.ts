import { EventData, EventType, makeEvent } from '@waybill/contracts';
import type { TransactionEvent } from '@waybill/delivery';

export function shuffle<T>(items: readonly T[], rnd: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

let ids = 0;
const T0 = Date.parse('2031-03-01T00:00:00.000Z');

/**
 * The events of one transaction's realistic life, in order of publication: received and routed, a
 * few retryable attempts, an outcome (sometimes a 202 accepted by hand), sometimes a redelivery
 * and a second delivery. Times start at `startS` seconds after a fixed instant.
 */
export function transactionHistory(orgId: string, tx: string, startS: number, rnd: () => number): TransactionEvent[] {
  const events: TransactionEvent[] = [];
  let t = startS;
  const emit = <T extends EventType>(type: T, data: EventData<T>) => {
    const eventId = `00000000-0000-7000-8000-${(++ids).toString(16).padStart(12, '0')}`;
    events.push(makeEvent(type, { eventId, occurredAt: new Date(T0 + t * 1000).toISOString(), orgId, key: tx, data }) as unknown as TransactionEvent);
  };
  const at = () => new Date(T0 + t * 1000).toISOString();
  emit('transaction.received.v1', {
    id: tx, relationshipId: `rel_${Math.floor(rnd() * 3)}`, senderId: 'acme', receiverId: 'globex', transactionType: '850',
    businessNumber: `PO-${tx}`, stream: 'LIVE', createdAt: at(), channelId: 'ch_a', format: 'JSON', payloadBytes: 20,
  });
  const generations = rnd() < 0.3 ? 2 : 1;
  for (let g = 1; g <= generations; g++) {
    const deliveryId = `dl_${tx}_${g}`;
    const channelId = g === 1 ? 'ch_a' : 'ch_b';
    if (g > 1) {
      t += 5;
      emit('transaction.redelivery-requested.v1', { transactionId: tx, requestedAt: at(), generation: g - 1 });
      t += 1;
    }
    emit('transaction.routed.v1', { transactionId: tx, channelId, deliveryId, generation: g });
    const retries = Math.floor(rnd() * 3);
    let attempt = 0;
    const attempted = (statusCode: number | null, outcome: EventData<'delivery.attempted.v1'>['outcome']) =>
      emit('delivery.attempted.v1', {
        transactionId: tx, deliveryId, channelId, attempt: ++attempt, at: at(), statusCode, outcome, durationMs: Math.floor(rnd() * 900),
        error: statusCode === null ? 'ECONNRESET' : null, responseExcerpt: statusCode === null ? null : `answer ${statusCode}`,
      });
    for (let r = 0; r < retries; r++) {
      t += 1;
      attempted(503, 'RETRYABLE');
      emit('delivery.retry-scheduled.v1', { transactionId: tx, deliveryId, attempt: attempt + 1, dueAt: new Date(T0 + (t + 30) * 1000).toISOString() });
      t += 30;
    }
    t += 1;
    const last = g === generations;
    const ending = last ? Math.floor(rnd() * 6) : 3;
    switch (ending) {
      case 0:
        attempted(200, 'ACCEPTED');
        emit('transaction.accepted.v1', { transactionId: tx, deliveryId, by: 'PARTNER' });
        break;
      case 1:
        attempted(202, 'DISPATCHED');
        emit('transaction.dispatched.v1', { transactionId: tx, deliveryId });
        if (rnd() < 0.5) {
          t += 50;
          emit('transaction.accepted.v1', { transactionId: tx, deliveryId, by: 'API' });
        }
        break;
      case 2:
        attempted(400, 'REJECTED');
        emit('transaction.rejected.v1', { transactionId: tx, deliveryId, statusCode: 400 });
        break;
      case 3:
        attempted(500, 'RETRYABLE');
        emit('transaction.failed.v1', { transactionId: tx, deliveryId, reason: 'retries spent' });
        break;
      case 4:
        attempted(null, 'RETRYABLE');
        emit('delivery.retry-scheduled.v1', { transactionId: tx, deliveryId, attempt: attempt + 1, dueAt: new Date(T0 + (t + 60) * 1000).toISOString() });
        break;
      default:
        break; // routed, not attempted yet
    }
  }
  return events;
}
