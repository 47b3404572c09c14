import { z } from 'zod'
import { AgreementParamsSchema } from '../agreements/agreement.schemas.ts'
import { DateTimeSchema } from '../http/schemas.ts'
import type { AppreciationView, IncidentView } from './incident.texts.ts'

export const IncidentParamsSchema = AgreementParamsSchema.extend({ iid: z.uuid() })
export const AppreciationParamsSchema = AgreementParamsSchema.extend({ apid: z.uuid() })

const ClauseKeySchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a clause key: lowercase letters, digits and dashes')
  .meta({ description: 'The `key` of a clause of the active version' })
const Note = (max: number) => z.string().trim().min(1).max(max)

export const ReportIncidentSchema = z
  .strictObject({
    clauseKey: ClauseKeySchema,
    subjectId: z.uuid().meta({ description: 'The partner who crossed the clause (yourself, for a self-report)' }),
    occurredAt: z.iso
      .datetime({ offset: true })
      .transform((s) => new Date(s))
      .meta({ description: 'RFC 3339; not in the future, not before the active version was activated' }),
    description: Note(4000).meta({ description: 'What happened, in your words' })
  })
  .meta({ id: 'ReportIncident' })

export const AcknowledgeSchema = z
  .strictObject({ note: Note(2000).optional().meta({ description: 'An apology, or what you will do' }) })
  .meta({ id: 'AcknowledgeIncident' })

export const DisputeSchema = z
  .strictObject({ note: Note(2000).meta({ description: 'How you see it' }) })
  .meta({ id: 'DisputeIncident' })

export const ResolveSchema = z
  .strictObject({
    consequenceIndex: z.int().min(0).max(9).nullable().meta({
      description:
        "The agreed consequence applied: its index in the clause's `consequences` as the incident shows them, or null for none"
    }),
    note: Note(2000)
  })
  .meta({ id: 'ResolveIncident' })

export const IncidentQuerySchema = z.object({
  status: z.enum(['reported', 'acknowledged', 'disputed', 'resolved']).optional(),
  clauseKey: ClauseKeySchema.optional()
})

export const IncidentSchema = z
  .object({
    id: z.uuid(),
    partnershipId: z.uuid(),
    agreementId: z.uuid(),
    versionNumber: z.int().meta({ description: 'The version whose clause was crossed (active when reported)' }),
    clauseKey: z.string(),
    clause: z
      .object({ key: z.string(), text: z.string(), consequences: z.array(z.string()) })
      .meta({ description: 'The clause as that version wrote it, whatever the agreement says now' }),
    subjectId: z.uuid(),
    reporterId: z.uuid(),
    status: z.enum(['reported', 'acknowledged', 'disputed', 'resolved']),
    occurredAt: DateTimeSchema,
    description: z
      .string()
      .nullable()
      .meta({ description: "What happened, in the reporter's words; null once they were erased" }),
    reportedAt: DateTimeSchema,
    answer: z
      .object({ kind: z.enum(['acknowledged', 'disputed']), note: z.string().nullable(), answeredAt: DateTimeSchema })
      .nullable()
      .meta({ description: "The subject's answer" }),
    resolution: z
      .object({
        consequenceIndex: z.int().nullable(),
        consequence: z.string().nullable().meta({ description: 'The agreed consequence applied, as written' }),
        note: z.string().nullable().meta({ description: "The resolver's note; null once they were erased" }),
        resolvedBy: z.uuid(),
        resolvedAt: DateTimeSchema
      })
      .nullable(),
    erased: z.boolean().meta({
      description:
        'A text of this incident (description, answer note or resolution note) was written by a person who has since been erased: it reads null, gone for good'
    }),
    updatedAt: DateTimeSchema
  })
  .meta({ id: 'Incident' })

export const toIncident = (i: IncidentView): z.infer<typeof IncidentSchema> => ({
  id: i.id,
  partnershipId: i.partnershipId,
  agreementId: i.agreementId,
  versionNumber: i.versionNumber,
  clauseKey: i.clauseKey,
  clause: { key: i.clause.key, text: i.clause.text, consequences: i.clause.consequences },
  subjectId: i.subjectId,
  reporterId: i.reporterId,
  status: i.status as z.infer<typeof IncidentSchema>['status'],
  occurredAt: i.occurredAt.toISOString(),
  description: i.description,
  reportedAt: i.reportedAt.toISOString(),
  answer:
    i.answer === null || i.answeredAt === null
      ? null
      : { kind: i.answer as 'acknowledged' | 'disputed', note: i.answerNote, answeredAt: i.answeredAt.toISOString() },
  resolution:
    i.resolvedAt === null
      ? null
      : {
          consequenceIndex: i.consequenceIndex,
          consequence: i.consequenceIndex === null ? null : (i.clause.consequences[i.consequenceIndex] ?? null),
          note: i.resolutionNote,
          resolvedBy: i.resolvedBy!,
          resolvedAt: i.resolvedAt.toISOString()
        },
  erased: i.erased,
  updatedAt: i.updatedAt.toISOString()
})

export const AddAppreciationSchema = z
  .strictObject({
    text: Note(2000).meta({ description: 'The kept commitment, in your words' }),
    clauseKey: ClauseKeySchema.optional()
  })
  .meta({ id: 'AddAppreciation' })

export const AppreciationSchema = z
  .object({
    id: z.uuid(),
    partnershipId: z.uuid(),
    agreementId: z.uuid(),
    versionNumber: z.int(),
    clauseKey: z.string().nullable(),
    authorId: z.uuid(),
    text: z.string().nullable().meta({ description: 'null once its author was erased (see `erased`)' }),
    erased: z.boolean().meta({ description: 'Its author was erased: the text is gone for good' }),
    createdAt: DateTimeSchema
  })
  .meta({ id: 'Appreciation' })

export const toAppreciation = (a: AppreciationView): z.infer<typeof AppreciationSchema> => ({
  id: a.id,
  partnershipId: a.partnershipId,
  agreementId: a.agreementId,
  versionNumber: a.versionNumber,
  clauseKey: a.clauseKey,
  authorId: a.authorId,
  text: a.text,
  erased: a.erased,
  createdAt: a.createdAt.toISOString()
})

const Average = z.number().min(1).max(5).nullable()
export const InsightsSchema = z
  .object({
    agreementId: z.uuid(),
    timezone: z.string().meta({ description: "The partnership's time zone: days and months are counted in it" }),
    asOf: DateTimeSchema,
    incidents: z.object({
      total: z.int(),
      open: z.int(),
      lastOccurredAt: DateTimeSchema.nullable(),
      daysSinceLast: z.int().nullable().meta({ description: 'Whole local days since the latest incident occurred' })
    }),
    appreciations: z.object({ total: z.int() }),
    months: z
      .array(
        z.object({ month: z.string().meta({ examples: ['2026-11'] }), incidents: z.int(), appreciations: z.int() })
      )
      .meta({ description: 'The last 12 local months, oldest first, this month included' }),
    reviews: z.object({
      completed: z.int(),
      completedOnTime: z.int().meta({ description: 'Completed within 7 days of their due date' }),
      averageRating: Average.meta({ description: 'The mean of every rating given in completed reviews' }),
      trend: z
        .object({
          recent: Average.meta({ description: 'Mean rating of the last three completed reviews' }),
          previous: Average.meta({ description: 'Mean rating of the three before them' }),
          direction: z.enum(['up', 'down', 'steady']).nullable().meta({ description: 'steady: within 0.25' })
        })
        .meta({ description: 'Whether the agreement is working better or worse lately' }),
      keepStreak: z.int().meta({ description: 'Consecutive completed reviews, latest first, where everyone said keep' })
    })
  })
  .meta({
    id: 'AgreementInsights',
    description: 'About the agreement, never a score of a person: nothing here is counted by partner.'
  })
