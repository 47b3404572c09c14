import { z } from 'zod'
import { DateTimeSchema, pgIntParam } from '../http/schemas.ts'

export const EventSchema = z
  .object({
    seq: z.int().min(1),
    partnershipId: z.uuid(),
    type: z.string(),
    actorId: z.uuid().nullable(),
    subject: z.object({ type: z.string(), id: z.string() }),
    data: z.record(z.string(), z.unknown()),
    at: DateTimeSchema,
    prevHash: z.string().nullable(),
    hash: z
      .string()
      .meta({ description: '`sha256:` + hex SHA-256 of the RFC 8785 canonical JSON of this object without `hash`' })
  })
  .meta({ id: 'Event' })

export const EventsQuerySchema = z.object({
  after: pgIntParam().optional().meta({ description: 'Only events with a greater seq' }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional()
})

export const VerificationSchema = z
  .object({
    valid: z.boolean(),
    eventCount: z.int().meta({ description: 'Events verified intact (before the first broken link, if any)' }),
    head: z.object({ seq: z.int(), hash: z.string() }).nullable(),
    firstBrokenSeq: z.int().nullable(),
    reason: z.enum(['seq-gap', 'prev-hash-mismatch', 'hash-mismatch']).nullable()
  })
  .meta({ id: 'ChainVerification' })

export const EventStreamQuerySchema = z.object({
  after: pgIntParam().optional().meta({ description: 'Start after this seq (`Last-Event-ID` takes precedence)' })
})

export const EventStreamHeadersSchema = z.looseObject({
  'last-event-id': pgIntParam()
    .optional()
    .meta({ description: 'The seq of the last event received: the stream resumes after it' })
})
