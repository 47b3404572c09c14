import { z } from 'zod'
import { DateTimeSchema } from '../http/schemas.ts'
import type { ReviewView } from './review-read.service.ts'

export const ReviewParamsSchema = z.object({ pid: z.uuid(), aid: z.uuid(), rid: z.uuid() })

export const RespondSchema = z
  .strictObject({
    outcome: z.enum(['keep', 'revise', 'retire']),
    rating: z.int().min(1).max(5).meta({ description: 'How well the agreement is working, 1–5' }),
    note: z.string().trim().min(1).max(2000).optional()
  })
  .meta({ id: 'ReviewResponse' })

export const ReviewSchema = z
  .object({
    id: z.uuid(),
    agreementId: z.uuid(),
    versionNumber: z.int(),
    trigger: z.enum(['schedule', 'early']),
    status: z.enum(['open', 'completed']),
    dueAt: DateTimeSchema,
    overdue: z.boolean(),
    outcome: z.enum(['keep', 'revise', 'retire']).nullable(),
    requiredResponders: z.array(z.uuid()),
    responses: z.array(
      z.object({
        userId: z.uuid(),
        outcome: z.enum(['keep', 'revise', 'retire']),
        rating: z.int(),
        note: z.string().nullable().meta({ description: 'null when none was written, or once its author was erased' }),
        erased: z.boolean().meta({ description: 'Its author was erased: the note is gone for good' }),
        respondedAt: DateTimeSchema
      })
    ),
    openedAt: DateTimeSchema,
    closedAt: DateTimeSchema.nullable()
  })
  .meta({ id: 'Review' })

export const toReview = ({ review: r, responses }: ReviewView): z.infer<typeof ReviewSchema> => ({
  id: r.id,
  agreementId: r.agreementId,
  versionNumber: r.versionNumber,
  trigger: r.trigger as 'schedule' | 'early',
  status: r.status as 'open' | 'completed',
  dueAt: r.dueAt.toISOString(),
  overdue: r.overdueAt !== null,
  outcome: r.outcome as 'keep' | 'revise' | 'retire' | null,
  requiredResponders: r.requiredResponders,
  responses: responses.map((x) => ({
    userId: x.userId,
    outcome: x.outcome as 'keep' | 'revise' | 'retire',
    rating: x.rating,
    note: x.note,
    erased: x.erased,
    respondedAt: x.respondedAt.toISOString()
  })),
  openedAt: r.openedAt.toISOString(),
  closedAt: r.closedAt?.toISOString() ?? null
})
