import { z } from 'zod'
import { DateTimeSchema } from '../http/schemas.ts'
import type { InvitationView } from './invitation.service.ts'

export const InvitationParamsSchema = z.object({ pid: z.uuid(), iid: z.uuid() })

export const CreateInvitationSchema = z
  .strictObject({
    role: z.enum(['partner', 'observer']),
    expiresAt: z.iso
      .datetime({ offset: true })
      .transform((s) => new Date(s))
      .optional()
      .meta({ description: 'When the invitation stops working: in the future, at most 30 days away (default 7 days)' })
  })
  .meta({ id: 'CreateInvitation' })

export const AcceptInvitationSchema = z
  .strictObject({ token: z.string().min(1).max(200) })
  .meta({ id: 'AcceptInvitation' })

export const InvitationSchema = z
  .object({
    id: z.uuid(),
    partnershipId: z.uuid(),
    role: z.enum(['partner', 'observer']),
    status: z.enum(['pending', 'accepted', 'revoked', 'expired']),
    createdBy: z.uuid(),
    createdAt: DateTimeSchema,
    expiresAt: DateTimeSchema,
    approvals: z.array(z.object({ userId: z.uuid(), approvedAt: DateTimeSchema })),
    pendingApprovals: z
      .array(z.uuid())
      .meta({ description: 'Partners who still have to approve (observer invitations only)' }),
    acceptedBy: z.uuid().nullable(),
    acceptedAt: DateTimeSchema.nullable()
  })
  .meta({ id: 'Invitation' })

export const CreatedInvitationSchema = InvitationSchema.extend({
  token: z
    .string()
    .meta({ description: 'The secret to give the invitee. Shown only in this response; Accord keeps only its hash.' })
}).meta({ id: 'CreatedInvitation' })

export const AcceptedInvitationSchema = z
  .object({ partnershipId: z.uuid(), role: z.enum(['partner', 'observer']) })
  .meta({ id: 'AcceptedInvitation' })

export const toInvitation = (v: InvitationView): z.infer<typeof InvitationSchema> => ({
  id: v.invitation.id,
  partnershipId: v.invitation.partnershipId,
  role: v.invitation.role as 'partner' | 'observer',
  status: v.status,
  createdBy: v.invitation.createdBy,
  createdAt: v.invitation.createdAt.toISOString(),
  expiresAt: v.invitation.expiresAt.toISOString(),
  approvals: v.approvals.map((a) => ({ userId: a.userId, approvedAt: a.approvedAt.toISOString() })),
  pendingApprovals: v.pendingApprovals,
  acceptedBy: v.invitation.acceptedBy,
  acceptedAt: v.invitation.acceptedAt?.toISOString() ?? null
})
