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

const HashSchema = z.string().meta({ description: '`sha256:` + hex, as the event at that seq carries it' })

export const CheckpointSchema = z
  .object({
    checkpoint: z.string().meta({
      description:
        'Compact JWS (EdDSA, header `typ: accord-checkpoint+jws` and `kid`) over {iss, partnershipId, seq, hash, at}: keep it, and send it to POST …/audit/verify later'
    }),
    kid: z.string().meta({ description: 'The key that signed it, in /.well-known/jwks.json' }),
    iss: z.string(),
    partnershipId: z.uuid(),
    seq: z.int().min(0).meta({ description: "The head's seq (0 for an empty log)" }),
    hash: HashSchema.nullable().meta({ description: "The head's hash (null for an empty log)" }),
    at: DateTimeSchema.meta({ description: 'When the service signed it' })
  })
  .meta({ id: 'Checkpoint' })

/** The shape of a compact JWS: three base64url parts (what is not is a 400 before anything is checked). */
const CompactJwsSchema = z
  .string()
  .max(2048)
  .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be a compact JWS')

export const VerifyCheckpointsSchema = z
  .strictObject({
    checkpoints: z
      .array(CompactJwsSchema)
      .min(1)
      .max(100)
      .meta({ description: 'Checkpoints kept from GET …/audit/checkpoint (or a certificate), 1 to 100' })
  })
  .meta({ id: 'VerifyCheckpoints' })

export const CheckpointVerificationSchema = z
  .object({
    partnershipId: z.uuid(),
    head: z.object({ seq: z.int(), hash: z.string() }).nullable(),
    chainBrokenAt: z.int().nullable().meta({
      description:
        'The first seq at which the chain no longer recomputes, looking up to the greatest seq a checkpoint names (GET …/audit/verify looks at all)'
    }),
    results: z.array(
      z.object({
        index: z.int().meta({ description: 'Position in the request' }),
        status: z.enum(['ok', 'bad-signature', 'not-a-checkpoint', 'other-partnership', 'missing', 'rewritten']).meta({
          description:
            '`ok`: the chain recomputes up to `seq` and holds `hash` there. `bad-signature`: not signed by any key of the service. `not-a-checkpoint`: signed by the service, but another kind of JWS (a receipt). `other-partnership`. `missing`: the log is now shorter than `seq`. `rewritten`: some event at or before `seq` is not what the checkpoint saw'
        }),
        seq: z.int().nullable(),
        hash: z.string().nullable(),
        at: DateTimeSchema.nullable(),
        kid: z.string().nullable(),
        currentHash: z.string().nullable().meta({ description: 'What the log holds at `seq` now' }),
        differsAfter: z.int().nullable().meta({
          description:
            'rewritten: the greatest seq below this one of an `ok` checkpoint of this request signed no later (events up to it are unchanged), else 0'
        }),
        differsAtOrBefore: z.int().nullable().meta({ description: 'rewritten: this checkpoint’s seq' }),
        firstDifferingSeq: z
          .int()
          .nullable()
          .meta({ description: 'rewritten: the first changed seq, when (differsAfter, differsAtOrBefore] is one seq' })
      })
    ),
    firstDifference: z
      .object({ after: z.int(), atOrBefore: z.int(), seq: z.int().nullable() })
      .nullable()
      .meta({ description: 'The narrowest range the rewritten checkpoints give for the first changed event' })
  })
  .meta({ id: 'CheckpointVerification' })
