import { z } from 'zod'
import { CheckpointSchema } from '../audit/audit.schemas.ts'
import { DateTimeSchema } from '../http/schemas.ts'

const CertificateEventSchema = z
  .object({ seq: z.int(), type: z.string(), at: DateTimeSchema, hash: z.string() })
  .meta({ id: 'CertificateEvent' })

const PersonSchema = z.object({ userId: z.uuid(), displayName: z.string().nullable() })

export const CertificateSchema = z
  .object({
    agreement: z.object({
      id: z.uuid(),
      partnershipId: z.uuid(),
      title: z.string(),
      category: z.string(),
      createdAt: DateTimeSchema
    }),
    issuedAt: DateTimeSchema,
    versions: z.array(
      z.object({
        number: z.int(),
        kind: z.enum(['terms', 'retirement']),
        title: z.string().nullable().meta({ description: 'The title this version gives (null for a retirement)' }),
        status: z.string(),
        contentHash: z.string(),
        previousHash: z.string().nullable(),
        basedOn: z.int().nullable(),
        author: PersonSchema,
        requiredSigners: z.array(PersonSchema),
        createdAt: DateTimeSchema,
        proposedAt: DateTimeSchema.nullable(),
        activatedAt: DateTimeSchema.nullable(),
        closedAt: DateTimeSchema.nullable(),
        signatures: z.array(
          PersonSchema.extend({
            contentHash: z.string(),
            signedAt: DateTimeSchema,
            revokedAt: DateTimeSchema.nullable(),
            receipt: z.string().meta({ description: 'Compact JWS, typ accord-receipt+jws' })
          })
        ),
        events: z.array(CertificateEventSchema).meta({ description: 'The log events about this version' })
      })
    ),
    events: z
      .array(CertificateEventSchema)
      .meta({ description: 'The log events about the agreement itself (created, suspended, retired)' }),
    checkpoint: CheckpointSchema.meta({
      description: 'The log head, signed when the certificate was made: it covers every event listed'
    })
  })
  .meta({
    id: 'AgreementCertificate',
    description:
      'Every version but drafts, with its hashes, signers, times, receipts and log events, and a checkpoint of the log'
  })
export type Certificate = z.infer<typeof CertificateSchema>
