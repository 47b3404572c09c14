import { z } from 'zod'
import { DateTimeSchema, TimezoneSchema } from '../http/schemas.ts'
import type { UserRow } from './user.sql.ts'

export const UserSchema = z
  .object({
    id: z.uuid(),
    displayName: z.string(),
    timezone: z.string(),
    createdAt: DateTimeSchema,
    updatedAt: DateTimeSchema
  })
  .meta({ id: 'User' })

export const UpdateMeSchema = z
  .strictObject({
    displayName: z.string().trim().min(1).max(100).optional(),
    timezone: TimezoneSchema.optional()
  })
  .refine((v) => v.displayName !== undefined || v.timezone !== undefined, {
    message: 'send displayName, timezone or both'
  })
  .meta({ id: 'UpdateMe', minProperties: 1 })

export const toUser = (u: UserRow): z.infer<typeof UserSchema> => ({
  id: u.id,
  displayName: u.displayName,
  timezone: u.timezone,
  createdAt: u.createdAt.toISOString(),
  updatedAt: u.updatedAt.toISOString()
})
