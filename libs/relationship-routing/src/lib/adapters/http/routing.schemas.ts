import { z } from 'zod';
import { Format } from '@waybill/contracts';

/** The shapes routing answers with, for `/openapi.json` (and for tests that hold answers to them). */

const iso = z.iso.datetime({ offset: true });

export const RelationshipResponse = z.object({
  id: z.string(),
  senderId: z.string(),
  receiverId: z.string(),
  transactionType: z.string(),
  channelId: z.string().nullable(),
  channelSource: z
    .enum(['EXPLICIT', 'DEFAULT'])
    .nullable()
    .describe('`DEFAULT`: the default inbound channel at creation; `EXPLICIT`: given; null: no channel.'),
  createdAt: iso,
});

export const TransactionAccepted = z.object({
  id: z.string(),
  status: z.literal('PENDING'),
  relationshipId: z.string(),
  channelId: z.string(),
  createdAt: iso,
});

const ItemProblem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  code: z.string(),
  detail: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export const BatchAccepted = z.object({
  data: z.array(
    z.union([
      TransactionAccepted.extend({
        idempotencyKey: z.string().optional(),
        replayed: z.boolean().optional().describe('True when the item’s idempotencyKey named an earlier transaction with the same body.'),
      }),
      z.object({ error: ItemProblem, idempotencyKey: z.string().optional() }),
    ]),
  ),
});

export const SentRequestResponse = z.object({
  transactionId: z.string(),
  format: Format,
  contentType: z.string(),
  payload: z.string().describe('The payload as received: the JSON text, or the XML or X12 document.'),
  request: z
    .object({
      method: z.literal('POST'),
      url: z.string(),
      headers: z.array(z.object({ name: z.string(), value: z.string(), redacted: z.boolean().describe('A secret: its value is not shown.') })),
      body: z.string(),
    })
    .nullable()
    .describe('Null for a PULL channel, or when the channel no longer exists.'),
});
