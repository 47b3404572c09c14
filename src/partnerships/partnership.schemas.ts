import { z } from 'zod'
import { DateTimeSchema, TimezoneSchema } from '../http/schemas.ts'
import type { MemberView } from './partnership.repo.ts'
import type { PartnershipRow } from './partnership.sql.ts'

export const PartnershipParamsSchema = z.object({ pid: z.uuid() })

const NameSchema = z.string().trim().min(1).max(100)

export const CreatePartnershipSchema = z
  .strictObject({
    name: NameSchema,
    timezone: TimezoneSchema
  })
  .meta({ id: 'CreatePartnership' })

export const UpdatePartnershipSchema = z
  .strictObject({
    name: NameSchema.optional(),
    timezone: TimezoneSchema.optional()
  })
  .refine((v) => v.name !== undefined || v.timezone !== undefined, { message: 'send name, timezone or both' })
  .meta({ id: 'UpdatePartnership', minProperties: 1 })

export const MemberSchema = z
  .object({
    userId: z.uuid(),
    displayName: z.string(),
    role: z.enum(['partner', 'observer']),
    joinedAt: DateTimeSchema
  })
  .meta({ id: 'Member' })

export const PartnershipSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    timezone: z.string(),
    status: z.enum(['active', 'dissolved']),
    createdAt: DateTimeSchema,
    updatedAt: DateTimeSchema,
    dissolvedAt: DateTimeSchema.nullable(),
    members: z.array(MemberSchema)
  })
  .meta({ id: 'Partnership' })

export const toMember = (m: MemberView): z.infer<typeof MemberSchema> => ({
  userId: m.userId,
  displayName: m.displayName,
  role: m.role,
  joinedAt: m.joinedAt.toISOString()
})

export const toPartnership = (p: PartnershipRow, members: MemberView[]): z.infer<typeof PartnershipSchema> => ({
  id: p.id,
  name: p.name,
  timezone: p.timezone,
  status: p.status as 'active' | 'dissolved',
  createdAt: p.createdAt.toISOString(),
  updatedAt: p.updatedAt.toISOString(),
  dissolvedAt: p.dissolvedAt?.toISOString() ?? null,
  members: members.map(toMember)
})
