import { z } from 'zod'
import { normalizeCadence, parseCadence } from './cadence.rules.ts'

export const CATEGORIES = [
  'communication',
  'transparency',
  'time',
  'finances',
  'intimacy',
  'digital',
  'social',
  'family',
  'health',
  'other'
] as const

const ClauseSchema = z
  .strictObject({
    key: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9-]{0,62}$/,
        'lowercase letters, digits and dashes, starting with a letter or digit, at most 63'
      ),
    text: z.string().trim().min(1).max(2000),
    appliesTo: z
      .union([z.literal('all'), z.array(z.uuid()).min(1).max(8)])
      .default('all')
      .meta({ description: '"all", or the user ids of the partners the clause binds' }),
    consequences: z
      .array(z.string().trim().min(1).max(1000))
      .max(10)
      .default([])
      .meta({ description: 'What the partners agreed happens when the clause is crossed' })
  })
  .meta({ id: 'Clause' })

const CadenceSchema = z
  .string()
  .min(1)
  .max(500)
  .transform(normalizeCadence)
  .superRefine((rule, ctx) => {
    const problem = parseCadence(rule).problem
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  })
  .meta({
    description:
      'RFC 5545 RRULE (FREQ DAILY/WEEKLY/MONTHLY/YEARLY; INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, COUNT, UNTIL); at most weekly, occurring within 5 years; stored without an `RRULE:` prefix, in upper case',
    examples: ['FREQ=MONTHLY;BYDAY=1SU']
  })

export const ReviewCadenceSchema = z
  .strictObject({
    rrule: CadenceSchema,
    time: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour')
      .default('19:00')
  })
  .meta({ id: 'ReviewCadence' })

/** What a `terms` version holds: the normalized form (defaults filled) is what is returned and hashed. */
export const TermsContentSchema = z
  .strictObject({
    title: z.string().trim().min(1).max(200),
    category: z.enum(CATEGORIES),
    clauses: z
      .array(ClauseSchema)
      .min(1)
      .max(50)
      .superRefine((clauses, ctx) => {
        const seen = new Set<string>()
        clauses.forEach((c, i) => {
          if (seen.has(c.key))
            ctx.addIssue({ code: 'custom', path: [i, 'key'], message: `duplicate clause key "${c.key}"` })
          seen.add(c.key)
          if (Array.isArray(c.appliesTo) && new Set(c.appliesTo).size !== c.appliesTo.length)
            ctx.addIssue({ code: 'custom', path: [i, 'appliesTo'], message: 'each partner once' })
        })
      }),
    review: ReviewCadenceSchema,
    note: z.string().trim().min(1).max(2000).nullable().default(null).meta({ description: 'Why this version' })
  })
  .meta({ id: 'TermsContent' })

/** What a `retirement` version holds: why the partners end the agreement. */
export const RetirementContentSchema = z
  .strictObject({
    note: z.string().trim().min(1).max(2000).nullable().default(null)
  })
  .meta({ id: 'RetirementContent' })

export type TermsContent = z.infer<typeof TermsContentSchema>
export type RetirementContent = z.infer<typeof RetirementContentSchema>
export type VersionContent = TermsContent | RetirementContent

export const isTerms = (c: VersionContent): c is TermsContent => 'clauses' in c
