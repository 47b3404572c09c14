import { z } from 'zod'
import { DateTimeSchema } from '../http/schemas.ts'
import type { AgendaFacts } from './agenda.render.ts'

const Href = z.string().meta({ description: 'The resource, as a path of this API' })

export const AgendaSchema = z
  .object({
    partnershipId: z.uuid(),
    role: z.enum(['partner', 'observer']).meta({ description: "The caller's role: the agenda is the caller's" }),
    asOf: DateTimeSchema,
    horizon: DateTimeSchema.meta({ description: 'Reviews due up to this instant (14 days ahead) are listed' }),
    reviews: z
      .array(
        z.object({
          status: z.enum(['open', 'upcoming']),
          reviewId: z.uuid().nullable().meta({ description: 'Null for a review not opened yet' }),
          agreementId: z.uuid(),
          title: z.string(),
          dueAt: DateTimeSchema,
          overdue: z.boolean(),
          youAreAsked: z.boolean(),
          youAnswered: z.boolean(),
          href: Href
        })
      )
      .meta({ description: 'Open reviews, and reviews due within 14 days, soonest first' }),
    proposals: z
      .array(
        z.object({
          agreementId: z.uuid(),
          title: z.string(),
          versionNumber: z.int(),
          proposedAt: DateTimeSchema,
          href: Href
        })
      )
      .meta({ description: 'Proposals waiting for your signature' }),
    incidents: z
      .array(
        z.object({
          id: z.uuid(),
          agreementId: z.uuid(),
          clauseKey: z.string(),
          status: z.enum(['reported', 'acknowledged', 'disputed']),
          occurredAt: DateTimeSchema,
          awaitingYourAnswer: z.boolean().meta({ description: 'You are its subject and have not answered it' }),
          href: Href
        })
      )
      .meta({ description: 'Unresolved incidents' }),
    suspended: z
      .array(z.object({ agreementId: z.uuid(), title: z.string(), updatedAt: DateTimeSchema, href: Href }))
      .meta({ description: 'Agreements suspended because a partner withdrew consent' }),
    sinceLastReview: z
      .array(
        z.object({
          agreementId: z.uuid(),
          title: z.string(),
          since: DateTimeSchema.nullable().meta({ description: 'When its last review completed (null: never)' }),
          incidentCount: z.int(),
          appreciationCount: z.int(),
          incidents: z.array(z.object({ id: z.uuid(), occurredAt: DateTimeSchema, href: Href })),
          appreciations: z.array(z.object({ id: z.uuid(), createdAt: DateTimeSchema, href: Href }))
        })
      )
      .meta({
        description:
          'For each active or suspended agreement: the incidents reported and appreciations noted since its last completed review (the 20 latest of each, and their counts)'
      })
  })
  .meta({ id: 'Agenda' })

export type Agenda = z.infer<typeof AgendaSchema>
type AgendaHeader = Pick<Agenda, 'partnershipId' | 'role' | 'asOf' | 'horizon'>
export type AgendaLists = Omit<Agenda, keyof AgendaHeader>

/** The agenda's lists, each item with its link. */
export function toAgendaLists(facts: AgendaFacts, partnershipId: string): AgendaLists {
  const agreement = (aid: string) => `/v1/partnerships/${partnershipId}/agreements/${aid}`
  return {
    reviews: facts.reviews.map((r) => ({
      ...r,
      href: r.reviewId === null ? agreement(r.agreementId) : `${agreement(r.agreementId)}/reviews/${r.reviewId}`
    })),
    proposals: facts.proposals.map((p) => ({
      ...p,
      href: `${agreement(p.agreementId)}/versions/${p.versionNumber}`
    })),
    incidents: facts.incidents.map((i) => ({ ...i, href: `${agreement(i.agreementId)}/incidents/${i.id}` })),
    suspended: facts.suspended.map((s) => ({ ...s, href: agreement(s.agreementId) })),
    sinceLastReview: facts.sinceLastReview.map((g) => ({
      ...g,
      incidents: g.incidents.map((i) => ({ ...i, href: `${agreement(g.agreementId)}/incidents/${i.id}` })),
      appreciations: g.appreciations.map((x) => ({ ...x, href: `${agreement(g.agreementId)}/appreciations/${x.id}` }))
    }))
  }
}

/** The lists as the members of the answer's JSON object after its header ("reviews": … }). */
export const agendaListsJson = (lists: AgendaLists): string => JSON.stringify(lists).slice(1)

/**
 * The agenda as sent: its header (whose instants are the request's) followed by lists rendered now or kept.
 * Typed by the schema at compile time (both halves are), so it is sent without the response schema's run-time
 * pass; the tests check every answer against the document.
 */
export function agendaJson(header: AgendaHeader, listsJson: string): string {
  return `${JSON.stringify(header).slice(0, -1)},${listsJson}`
}
