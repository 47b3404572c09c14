import { z } from 'zod'
import { DateTimeSchema, isoOrNull } from '../http/schemas.ts'
import type { CalendarTokenRow } from './calendar-token.sql.ts'

export const CalendarFeedSchema = z
  .object({
    id: z.uuid(),
    createdAt: DateTimeSchema,
    lastUsedAt: DateTimeSchema.nullable().meta({
      description: 'When a calendar app last fetched it (to the minute), or null'
    })
  })
  .meta({ id: 'CalendarFeed', description: 'A working calendar feed, without its secret' })

/** A feed as GET /v1/me/calendar-tokens lists it (and the export copies it): never its secret, only its id and times. */
export const toCalendarFeed = (f: CalendarTokenRow): z.infer<typeof CalendarFeedSchema> => ({
  id: f.id,
  createdAt: f.createdAt.toISOString(),
  lastUsedAt: isoOrNull(f.lastUsedAt)
})
