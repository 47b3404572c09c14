import { z } from 'zod'
import { DateTimeSchema, isoOrNull as iso, pgInt, pgIntParam } from '../http/schemas.ts'
import type { AgreementDetail, VersionWithSignatures } from './agreement.service.ts'
import type { AgreementRow, SignatureRow } from './agreement.sql.ts'
import { CATEGORIES, TermsContentSchema } from './content.schemas.ts'
import { agreementStatus } from './version.rules.ts'

export const AgreementParamsSchema = z.object({ pid: z.uuid(), aid: z.uuid() })
export const VersionParamsSchema = AgreementParamsSchema.extend({ n: z.coerce.number().int().min(1).max(1_000_000) })

export const CreateAgreementSchema = z
  .strictObject({
    content: TermsContentSchema,
    draft: z
      .boolean()
      .default(false)
      .meta({ description: 'Save as a draft only you can edit, instead of proposing it' })
  })
  .meta({ id: 'CreateAgreement' })

export const ProposeVersionSchema = z
  .strictObject({
    basedOn: pgInt(1).meta({ description: 'The version this one revises (its hash becomes previousHash)' }),
    counterTo: pgInt(1)
      .optional()
      .meta({ description: 'The open proposal this one counters (it is superseded in the same step)' }),
    kind: z.enum(['terms', 'retirement']).default('terms'),
    content: TermsContentSchema.optional().meta({ description: 'Required for kind terms' }),
    note: z
      .string()
      .trim()
      .min(1)
      .max(2000)
      .optional()
      .meta({ description: 'For kind retirement: why the partners end the agreement' }),
    draft: z.boolean().default(false)
  })
  .superRefine((b, ctx) => {
    if (b.kind === 'terms' && !b.content)
      ctx.addIssue({ code: 'custom', path: ['content'], message: 'content is required for a terms version' })
    if (b.kind === 'terms' && b.note !== undefined)
      ctx.addIssue({ code: 'custom', path: ['note'], message: 'a terms version carries its note in content.note' })
    if (b.kind === 'retirement' && b.content)
      ctx.addIssue({
        code: 'custom',
        path: ['content'],
        message: 'a retirement version has no terms; give a note instead'
      })
    if (b.kind === 'retirement' && b.draft)
      ctx.addIssue({ code: 'custom', path: ['draft'], message: 'a retirement is proposed directly' })
  })
  .meta({ id: 'ProposeVersion' })

export const UpdateDraftSchema = z.strictObject({ content: TermsContentSchema }).meta({ id: 'UpdateDraft' })
export const SignSchema = z
  .strictObject({ contentHash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'sha256: followed by 64 hex digits') })
  .meta({ id: 'SignVersion' })
export const DeclineSchema = z
  .strictObject({ reason: z.string().trim().min(1).max(2000) })
  .meta({ id: 'DeclineVersion' })
export const AgreementListQuerySchema = z.object({
  status: z.enum(['draft', 'proposed', 'active', 'in_revision', 'suspended', 'retired', 'ended']).optional(),
  category: z.enum(CATEGORIES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional()
})
export const DiffQuerySchema = z.object({ against: pgIntParam(1) })

const ClauseOut = z
  .object({
    key: z.string(),
    text: z.string(),
    appliesTo: z.union([z.literal('all'), z.array(z.string())]),
    consequences: z.array(z.string())
  })
  .meta({ id: 'VersionClause' })
const TermsOut = z
  .object({
    title: z.string(),
    category: z.string(),
    clauses: z.array(ClauseOut),
    review: z.object({ rrule: z.string(), time: z.string() }),
    note: z.string().nullable()
  })
  .meta({ id: 'VersionTermsContent' })
const RetirementOut = z.object({ note: z.string().nullable() }).meta({ id: 'VersionRetirementContent' })

export const SignatureSchema = z
  .object({
    signerId: z.uuid(),
    versionNumber: z.int(),
    contentHash: z.string(),
    signedAt: DateTimeSchema,
    receipt: z.string().meta({
      description:
        'Compact JWS (EdDSA) over {agreementId, version, contentHash, signerId, signedAt}; verify with /.well-known/jwks.json'
    }),
    revokedAt: DateTimeSchema.nullable()
  })
  .meta({ id: 'Signature' })

export const VersionSchema = z
  .object({
    agreementId: z.uuid(),
    number: z.int(),
    kind: z.enum(['terms', 'retirement']),
    status: z.enum(['draft', 'proposed', 'active', 'superseded', 'declined', 'withdrawn', 'voided']),
    content: z.union([TermsOut, RetirementOut]),
    contentHash: z.string().meta({
      description:
        '`sha256:` + hex SHA-256 of the RFC 8785 canonical JSON of {agreementId, number, kind, previousHash, content}'
    }),
    previousHash: z.string().nullable(),
    basedOn: z.int().nullable(),
    authorId: z.uuid(),
    requiredSigners: z.array(z.uuid()),
    signatures: z
      .array(SignatureSchema)
      .meta({ description: 'Live signatures (revoked ones are listed by GET …/signatures)' }),
    declineReason: z
      .string()
      .nullable()
      .meta({ description: 'Why it was declined, in the words of who declined it; null once they were erased' }),
    erased: z.boolean().meta({ description: 'Who declined it was erased: the reason is gone for good' }),
    createdAt: DateTimeSchema,
    proposedAt: DateTimeSchema.nullable(),
    activatedAt: DateTimeSchema.nullable(),
    closedAt: DateTimeSchema.nullable()
  })
  .meta({ id: 'Version' })

export const AgreementSchema = z
  .object({
    id: z.uuid(),
    partnershipId: z.uuid(),
    title: z.string(),
    category: z.string(),
    status: z.enum(['draft', 'proposed', 'active', 'in_revision', 'suspended', 'retired', 'ended']),
    activeVersion: z.int().nullable(),
    openProposal: z.int().nullable(),
    nextReviewAt: DateTimeSchema.nullable(),
    openIncidents: z.int().meta({ description: 'Incidents reported against it and not yet resolved' }),
    lastIncidentAt: DateTimeSchema.nullable().meta({ description: 'When the latest reported incident occurred' }),
    createdBy: z.uuid(),
    createdAt: DateTimeSchema,
    updatedAt: DateTimeSchema
  })
  .meta({ id: 'Agreement' })

export const AgreementDetailSchema = AgreementSchema.extend({
  active: VersionSchema.nullable().meta({ description: 'The active version' }),
  proposal: VersionSchema.nullable().meta({ description: 'The open proposal' })
}).meta({ id: 'AgreementDetail' })

export const SignedSchema = SignatureSchema.extend({
  versionStatus: z.string().meta({ description: '`active` when this signature was the last one needed' }),
  agreementStatus: z.string()
}).meta({ id: 'SignatureReceipt' })

export const toSignature = (s: SignatureRow, versionNumber: number): z.infer<typeof SignatureSchema> => ({
  signerId: s.signerId,
  versionNumber,
  contentHash: s.contentHash,
  signedAt: s.signedAt.toISOString(),
  receipt: s.receipt,
  revokedAt: iso(s.revokedAt)
})

export const toVersion = ({
  version: v,
  signatures,
  declined
}: VersionWithSignatures): z.infer<typeof VersionSchema> => ({
  agreementId: v.agreementId,
  number: v.number,
  kind: v.kind as 'terms' | 'retirement',
  status: v.status as z.infer<typeof VersionSchema>['status'],
  content: v.content,
  contentHash: v.contentHash,
  previousHash: v.previousHash,
  basedOn: v.basedOn,
  authorId: v.authorId,
  requiredSigners: v.requiredSigners,
  signatures: signatures.filter((s) => s.revokedAt === null).map((s) => toSignature(s, v.number)),
  // never the stored (sealed) column: only a reason opened by the read
  declineReason: declined?.text ?? null,
  erased: declined?.erased ?? false,
  createdAt: v.createdAt.toISOString(),
  proposedAt: iso(v.proposedAt),
  activatedAt: iso(v.activatedAt),
  closedAt: iso(v.closedAt)
})

export const toAgreement = (a: AgreementRow): z.infer<typeof AgreementSchema> => ({
  id: a.id,
  partnershipId: a.partnershipId,
  title: a.title,
  category: a.category,
  status: agreementStatus(a),
  activeVersion: a.activeVersion,
  openProposal: a.openProposal,
  nextReviewAt: iso(a.nextReviewAt),
  openIncidents: a.openIncidents,
  lastIncidentAt: iso(a.lastIncidentAt),
  createdBy: a.createdBy,
  createdAt: a.createdAt.toISOString(),
  updatedAt: a.updatedAt.toISOString()
})

export const toAgreementDetail = (d: AgreementDetail): z.infer<typeof AgreementDetailSchema> => ({
  ...toAgreement(d.agreement),
  active: d.active ? toVersion(d.active) : null,
  proposal: d.proposal ? toVersion(d.proposal) : null
})
