import { toAgreement, toSignature, toVersion } from '../agreements/agreement.schemas.ts'
import { listAgreements, listVersions, type VersionWithSignatures } from '../agreements/agreement.service.ts'
import type { AgreementRow } from '../agreements/agreement.sql.ts'
import { listEventsJson } from '../audit/audit.service.ts'
import { toCalendarFeed } from '../calendar/calendar.schemas.ts'
import { listCalendarTokens } from '../calendar/calendar.service.ts'
import type { Deps } from '../deps.ts'
import { toAppreciation, toIncident } from '../incidents/incident.schemas.ts'
import { listAppreciations, listIncidents } from '../incidents/incident.service.ts'
import { toInvitation } from '../invitations/invitation.schemas.ts'
import { listInvitations } from '../invitations/invitation.service.ts'
import { toPartnership } from '../partnerships/partnership.schemas.ts'
import { listPartnerships, type PartnershipWithMembers } from '../partnerships/partnership.service.ts'
import { toReview } from '../reviews/review.schemas.ts'
import { listReviews } from '../reviews/review-read.service.ts'
import { toUser } from '../users/user.schemas.ts'
import { getUser } from '../users/user.service.ts'
import { toWebhook } from '../webhooks/webhook.schemas.ts'
import { listWebhooks } from '../webhooks/webhook.service.ts'
import { jsonArrayBody, opened } from './export.rules.ts'
import { EXPORT_SCHEMA } from './export.schemas.ts'

/** Rows per read: what one page of each list costs in memory, whatever the size of the whole. */
export const EXPORT_PAGE = 200

/**
 * The caller's export (GET /v1/me/export): reads the caller first (so an unknown caller or an unreachable
 * database is an ordinary error answer), then returns the rest of the document as JSON text in pieces, read
 * page by page (EXPORT_PAGE rows) through the same use cases and mappers as each resource's GET route, only
 * as fast as the reader takes them. Memory stays bounded by a page whatever the size of the whole. A read
 * that fails halfway throws out of the iterator: whoever streams it must cut the answer short, never end it.
 * It takes all the dependencies, not a Pick: it calls the list use cases of every capability, whatever they need.
 */
export async function openExport(deps: Deps, userId: string): Promise<AsyncGenerator<string>> {
  const user = await getUser(deps, userId)
  const feeds = await listCalendarTokens(deps, userId)
  const head = opened({
    schema: EXPORT_SCHEMA,
    exportedAt: deps.now().toISOString(),
    user: toUser(user),
    identity: { issuer: user.issuer, subject: user.subject },
    calendarFeeds: feeds.map(toCalendarFeed)
  })
  return (async function* () {
    yield `${head},"partnerships":`
    yield* array(
      pages(
        EXPORT_PAGE,
        (afterId: string | null) => listPartnerships(deps, { userId, afterId, limit: EXPORT_PAGE }),
        partnershipKey
      ),
      (p) => partnershipJson(deps, userId, p)
    )
    yield ',"complete":true}'
  })()
}

const partnershipKey = (p: PartnershipWithMembers): string => p.partnership.id

/** The pages of a keyset-paginated read, each read only when the one before was written, until one comes back short. */
async function* pages<T, K>(
  size: number,
  read: (after: K | null) => Promise<T[]>,
  keyOf: (row: T) => K
): AsyncGenerator<T[]> {
  let after: K | null = null
  for (;;) {
    const rows = await read(after)
    if (rows.length > 0) yield rows
    if (rows.length < size) return
    after = keyOf(rows.at(-1)!)
  }
}

/** A JSON array written as its pages come: one piece of text per page of plain items, commas between. */
async function* array<T>(
  from: AsyncIterable<T[]>,
  write: (item: T) => string | AsyncIterable<string>
): AsyncGenerator<string> {
  let text = '['
  let first = true
  for await (const rows of from) {
    for (const row of rows) {
      if (!first) text += ','
      first = false
      const item = write(row)
      if (typeof item === 'string') text += item
      else {
        yield text
        text = ''
        yield* item
      }
    }
    if (text !== '') yield text
    text = ''
  }
  yield `${text}]`
}

async function* partnershipJson(deps: Deps, userId: string, p: PartnershipWithMembers): AsyncGenerator<string> {
  const partnershipId = p.partnership.id
  const target = { partnershipId, userId }
  yield opened(toPartnership(p.partnership, p.members))
  yield ',"invitations":'
  yield* array(
    pages(
      EXPORT_PAGE,
      (afterId: string | null) => listInvitations(deps, { ...target, afterId, limit: EXPORT_PAGE }),
      (v) => v.invitation.id
    ),
    (v) => JSON.stringify(toInvitation(v))
  )
  yield ',"agreements":'
  yield* array(
    pages(
      EXPORT_PAGE,
      (afterId: string | null) => listAgreements(deps, { ...target, afterId, limit: EXPORT_PAGE }),
      (a) => a.id
    ),
    (a) => agreementJson(deps, userId, a)
  )
  // Partners only, as GET …/webhooks: an observer would be refused them.
  const partner = p.members.some((m) => m.userId === userId && m.role === 'partner')
  yield ',"webhooks":'
  if (partner)
    yield* array(
      pages(
        EXPORT_PAGE,
        (afterId: string | null) => listWebhooks(deps, { ...target, afterId, limit: EXPORT_PAGE }),
        (w) => w.id
      ),
      (w) => JSON.stringify(toWebhook(w))
    )
  else yield 'null'
  yield ',"events":['
  // The pages of GET …/events themselves (rendered by the database): the same text, event for event.
  let afterSeq: number | null = 0
  let first = true
  while (afterSeq !== null) {
    const page = await listEventsJson(deps, { ...target, afterSeq, limit: EXPORT_PAGE })
    const body = jsonArrayBody(page.items)
    if (body !== '') {
      yield first ? body : `,${body}`
      first = false
    }
    afterSeq = page.after
  }
  yield ']}'
}

// Personal text (decline reasons, review notes, incident descriptions and notes, appreciations) reaches the export
// only through these list use cases and mappers, never from its columns: they open it under each author's data
// key (users/personal-text.service.ts), so the export shows what the GET routes show, `erased` included.
async function* agreementJson(deps: Deps, userId: string, a: AgreementRow): AsyncGenerator<string> {
  const target = { partnershipId: a.partnershipId, agreementId: a.id, userId }
  yield opened(toAgreement(a))
  yield ',"versions":'
  yield* array(
    pages(
      EXPORT_PAGE,
      (after: number | null) => listVersions(deps, { ...target, afterNumber: after ?? 0, limit: EXPORT_PAGE }),
      (v) => v.version.number
    ),
    (v) => JSON.stringify(versionOf(v))
  )
  yield ',"reviews":'
  yield* array(
    pages(
      EXPORT_PAGE,
      (afterId: string | null) => listReviews(deps, { ...target, afterId, limit: EXPORT_PAGE }),
      (r) => r.review.id
    ),
    (r) => JSON.stringify(toReview(r))
  )
  yield ',"incidents":'
  yield* array(
    pages(
      EXPORT_PAGE,
      (afterId: string | null) => listIncidents(deps, { ...target, afterId, limit: EXPORT_PAGE }),
      (i) => i.id
    ),
    (i) => JSON.stringify(toIncident(i))
  )
  yield ',"appreciations":'
  yield* array(
    pages(
      EXPORT_PAGE,
      (afterId: string | null) => listAppreciations(deps, { ...target, afterId, limit: EXPORT_PAGE }),
      (x) => x.id
    ),
    (x) => JSON.stringify(toAppreciation(x))
  )
  yield '}'
}

/** A version as GET …/versions/{n} shows it, with every signature as GET …/signatures lists them. */
const versionOf = (v: VersionWithSignatures) => ({
  ...toVersion(v),
  signatureHistory: v.signatures.map((s) => toSignature(s, v.version.number))
})
