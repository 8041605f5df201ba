import { z } from 'zod';

/** The answers of the dispatcher's endpoints, for `/openapi.json`. */

const Outcome = z.enum(['ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED', 'RETRYABLE']);

export const HealthResponse = z.object({
  channelId: z.string(),
  circuit: z.enum(['CLOSED', 'OPEN', 'HALF_OPEN']).describe('The channel is the unit of breaking.'),
  inFlight: z.number().int().describe('Requests in flight to the channel (PULL: messages leased).'),
  waiting: z.number().int().describe('Deliveries waiting: queued, parked for a retry, for the circuit or for room (PULL: waiting to be leased).'),
  throttledUntil: z.string().nullable().describe('After a 429, nothing is sent before then.'),
  nextProbeAt: z.string().nullable().describe('When an OPEN circuit lets its next probe through.'),
  lastOutcomes: z
    .array(z.object({ at: z.string(), outcome: Outcome, statusCode: z.number().int().nullable(), durationMs: z.number().int(), error: z.string().nullable() }))
    .describe('The last attempts, most recent first.'),
  updatedAt: z.string(),
});

export const TestResponse = z.object({
  statusCode: z.number().int().nullable().describe('What the partner answered; null when it did not.'),
  outcome: Outcome.describe('What the answer would make of a transaction.'),
  durationMs: z.number().int(),
  error: z.string().optional().describe('Why there was no answer (timeout, connection, token endpoint, refused destination).'),
});

export const PullMessageResponse = z.object({
  deliveryId: z.string(),
  transactionId: z.string(),
  attempt: z.number().int().describe('This lease’s number: each lease counts as an attempt.'),
  leaseExpiresAt: z.string().describe('Acknowledge before then, or the message returns to the queue.'),
  format: z.enum(['JSON', 'XML', 'X12']),
  contentType: z.string(),
  id: z.string(),
  relationshipId: z.string(),
  senderId: z.string(),
  receiverId: z.string(),
  transactionType: z.string(),
  businessNumber: z.string().nullable(),
  stream: z.enum(['LIVE', 'TEST']),
  createdAt: z.string(),
  delivery: z.object({ id: z.string(), attempt: z.number().int() }),
  payload: z.unknown().describe('A JSON value (JSON) or the document’s text (XML, X12).'),
});

export const AckResponse = z.object({
  data: z.array(
    z.object({
      deliveryId: z.string(),
      status: z.enum(['QUEUED', 'ACCEPTED', 'REJECTED', 'FAILED', 'NOT_FOUND']).describe('The message’s state after the call.'),
    }),
  ),
});

export const PendingMessageResponse = z.object({
  deliveryId: z.string(),
  transactionId: z.string(),
  senderId: z.string(),
  receiverId: z.string(),
  transactionType: z.string(),
  businessNumber: z.string().nullable(),
  format: z.enum(['JSON', 'XML', 'X12']),
  attempts: z.number().int().describe('Leases so far (each an attempt).'),
  queuedAt: z.string(),
  leasedUntil: z.string().nullable().describe('Set while a partner holds a lease on it.'),
});
