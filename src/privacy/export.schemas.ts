import { z } from 'zod'
import { AgreementSchema, SignatureSchema, VersionSchema } from '../agreements/agreement.schemas.ts'
import { EventSchema } from '../audit/audit.schemas.ts'
import { CalendarFeedSchema } from '../calendar/calendar.schemas.ts'
import { DateTimeSchema } from '../http/schemas.ts'
import { AppreciationSchema, IncidentSchema } from '../incidents/incident.schemas.ts'
import { InvitationSchema } from '../invitations/invitation.schemas.ts'
import { PartnershipSchema } from '../partnerships/partnership.schemas.ts'
import { ReviewSchema } from '../reviews/review.schemas.ts'
import { UserSchema } from '../users/user.schemas.ts'
import { WebhookSchema } from '../webhooks/webhook.schemas.ts'

/**
 * The document's format and its version. A change that removes or renames a field, or changes what one means,
 * makes it `accord-export/2`; added fields keep `/1` (readers ignore what they do not know).
 */
export const EXPORT_SCHEMA = 'accord-export/1'

export const ExportVersionSchema = VersionSchema.extend({
  signatureHistory: z.array(SignatureSchema).meta({
    description: 'Every signature of the version, revoked ones included, with receipts (as GET …/signatures lists them)'
  })
}).meta({ id: 'ExportVersion', description: 'A version as GET …/versions/{n} shows it, and its signature history' })

export const ExportAgreementSchema = AgreementSchema.extend({
  versions: z.array(ExportVersionSchema).meta({ description: 'Every version, oldest first (drafts included)' }),
  reviews: z.array(ReviewSchema).meta({ description: 'Every review, with every response' }),
  incidents: z.array(IncidentSchema),
  appreciations: z.array(AppreciationSchema)
}).meta({ id: 'ExportAgreement', description: 'An agreement as GET …/agreements lists it, and all it holds' })

export const ExportPartnershipSchema = PartnershipSchema.extend({
  invitations: z.array(InvitationSchema).meta({ description: 'Every invitation, never its token' }),
  agreements: z.array(ExportAgreementSchema),
  webhooks: z.array(WebhookSchema).nullable().meta({
    description: 'Its webhooks (never their secrets); null when the caller is an observer, who may not see them'
  }),
  events: z
    .array(EventSchema)
    .meta({ description: 'The whole audit log, oldest first, each event exactly as GET …/events shows it' })
}).meta({
  id: 'ExportPartnership',
  description: 'A partnership as GET /v1/partnerships/{pid} shows it, and all it holds'
})

export const ExportSchema = z
  .object({
    schema: z.literal(EXPORT_SCHEMA).meta({ description: 'The format of this document and its version' }),
    exportedAt: DateTimeSchema.meta({ description: 'When the export began' }),
    user: UserSchema.meta({ description: 'The caller, as GET /v1/me shows them' }),
    identity: z
      .object({ issuer: z.string(), subject: z.string() })
      .meta({ description: 'The token identity (`iss`, `sub`) Accord knows the caller by' }),
    calendarFeeds: z.array(CalendarFeedSchema).meta({ description: 'Working calendar feeds, never their secrets' }),
    partnerships: z
      .array(ExportPartnershipSchema)
      .meta({ description: 'Every partnership the caller is a member of now (not those they left)' }),
    complete: z.literal(true).meta({
      description:
        'Always true, and always the last member written: a document cut short is not valid JSON, and lacks it'
    })
  })
  .meta({ id: 'Export' })

export const EXPORT_DESCRIPTION = [
  'Everything Accord stores about the caller and every partnership they are a member of, as one JSON document',
  `(\`schema\`: \`${EXPORT_SCHEMA}\`), streamed as it is read (no Content-Length) and sent as an attachment.`,
  'Each resource is the JSON its own GET route returns. It is never truncated: if reading fails halfway, the',
  'connection is cut before the document ends, so what arrived is not valid JSON (and lacks `complete`).',
  'Secrets are never in it: no invitation or calendar tokens, no webhook secrets. Resources are read page by',
  'page while the document is written, not in one snapshot: a change made during the export may or may not be in it.'
].join(' ')
