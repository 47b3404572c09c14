// Seeds a benchmark database directly (bulk inserts): real content hashes, real receipt JWS and real
// hash-chained events, so every row is one the API itself could have written. Each partnership began
// HISTORY_DAYS ago with its active agreement; its incidents, appreciations and completed reviews are spread
// over the last 12 months, each with the events the API appends, chained in time order.
import { randomBytes, randomUUID } from 'node:crypto'
import type { Sql } from 'postgres'
import { nextOccurrence } from '../src/agreements/cadence.rules.ts'
import type { TermsContent } from '../src/agreements/content.schemas.ts'
import { RECEIPT_TYP } from '../src/agreements/signature.rules.ts'
import { contentHashOf } from '../src/agreements/version.rules.ts'
import { chainEvents } from '../src/audit/event.rules.ts'
import { newId } from '../src/db/columns.ts'
import type { Kek } from '../src/keys/kek.ts'
import type { ServiceKeys } from '../src/keys/key.service.ts'
import { KEY_BYTES, seal } from '../src/lib/seal.ts'
import { keyPurpose, textPurpose } from '../src/users/personal-text.service.ts'

export interface Seeded {
  /** For GET agreement and GET events: a partner's subject and their active agreement. */
  readers: Array<{ subject: string; partnershipId: string; agreementId: string }>
  /** Open proposals waiting for one last signature (bob's). */
  proposals: Array<{ subject: string; partnershipId: string; agreementId: string; contentHash: string }>
  /** Users with an open review. */
  reviewers: string[]
}

const content: TermsContent = {
  title: 'Phone transparency',
  category: 'transparency',
  clauses: [
    {
      key: 'no-hidden-chats',
      text: "We don't delete or hide conversations with people we've dated.",
      appliesTo: 'all',
      consequences: ['We talk it through within 48 hours.']
    }
  ],
  review: { rrule: 'FREQ=MONTHLY;BYDAY=1SU', time: '19:00' },
  note: null
}
const clause = content.clauses[0]!
/** The clause as an incident keeps it (incident.rules.ts, clauseOf). */
const clauseSnapshot = { key: clause.key, text: clause.text, consequences: clause.consequences }

const DAY = 86_400_000
/** How long ago each partnership and its active agreement began (its version activated then). */
const HISTORY_DAYS = 400
const YEAR_DAYS = 365

/** An incident's status by its place among an agreement's incidents, oldest first: the newest are still open. */
function incidentStatus(k: number, n: number): 'reported' | 'acknowledged' | 'disputed' | 'resolved' {
  const fromNewest = n - 1 - k
  if (fromNewest < 2) return 'reported'
  if (fromNewest < 4) return 'acknowledged'
  if (fromNewest < 6) return 'disputed'
  return 'resolved'
}

/**
 * Personal texts as the API stores them: each person gets a data key sealed under the KEK Accord runs with,
 * and each text is sealed under its author's key (users/personal-text.service.ts), so reads pay the opening.
 */
function personalTexts(kek: Kek) {
  const rows: Record<string, unknown>[] = []
  const byUser = new Map<string, Buffer>()
  return {
    rows,
    forUser(userId: string, at: Date) {
      const key = randomBytes(KEY_BYTES)
      byUser.set(userId, key)
      rows.push({ user_id: userId, sealed_key: kek.seal(key.toString('base64'), keyPurpose(userId)), created_at: at })
    },
    seal(authorId: string, text: string, purpose: string): string {
      return seal(byUser.get(authorId)!, text, textPurpose(purpose))
    },
    /** Starts the next batch (its rows are inserted with it). */
    clear() {
      rows.length = 0
      byUser.clear()
    }
  }
}

export async function seed(
  sql: Sql,
  keys: ServiceKeys,
  kek: Kek,
  opts: {
    issuer: string
    partnerships: number
    proposalsPer: number
    eventHeavy: number
    withReviews: number
    /** Per active agreement: incidents (mixed statuses) and appreciations over the last 12 months, and completed early reviews with both partners' responses. */
    incidentsPer: number
    appreciationsPer: number
    completedReviews: number
  },
  log: (s: string) => void
): Promise<Seeded> {
  const now = new Date()
  const began = new Date(now.getTime() - HISTORY_DAYS * DAY)
  const seeded: Seeded = { readers: [], proposals: [], reviewers: [] }
  const BATCH = 500
  let pending: Promise<void> = Promise.resolve()
  const texts = personalTexts(kek)
  for (let start = 0; start < opts.partnerships; start += BATCH) {
    const users: Record<string, unknown>[] = []
    const partnerships: Record<string, unknown>[] = []
    const memberships: Record<string, unknown>[] = []
    const agreements: Record<string, unknown>[] = []
    const versions: Record<string, unknown>[] = []
    const signatures: Record<string, unknown>[] = []
    const events: Record<string, unknown>[] = []
    const reviews: Record<string, unknown>[] = []
    const responses: Record<string, unknown>[] = []
    const incidents: Record<string, unknown>[] = []
    const appreciations: Record<string, unknown>[] = []
    texts.clear()
    for (let i = start; i < Math.min(start + BATCH, opts.partnerships); i++) {
      const pid = newId()
      const [alice, bob] = [newId(), newId()]
      const [aSub, bSub] = [`bench-a-${i}`, `bench-b-${i}`]
      for (const [id, sub, name] of [
        [alice, aSub, 'Alice'],
        [bob, bSub, 'Bob']
      ] as const)
        users.push({
          id,
          issuer: opts.issuer,
          subject: sub,
          display_name: name,
          timezone: 'Europe/Paris',
          revision: 1,
          created_at: began,
          updated_at: began
        })
      texts.forUser(alice, began)
      texts.forUser(bob, began)
      partnerships.push({
        id: pid,
        name: `Bench ${i}`,
        timezone: 'Europe/Paris',
        status: 'active',
        revision: 1,
        created_at: began,
        updated_at: began
      })
      memberships.push(
        { id: newId(), partnership_id: pid, user_id: alice, role: 'partner', joined_at: began },
        { id: newId(), partnership_id: pid, user_id: bob, role: 'partner', joined_at: began }
      )
      // Chained exactly as the API chains them (chainEvents), one at a time after the head so far.
      let head: { seq: number; hash: string } | null = null
      const event = (
        type: string,
        actor: string,
        subject: { type: string; id: string },
        data: Record<string, unknown>,
        at = now
      ) => {
        const [e] = chainEvents(head, [{ partnershipId: pid, type, actorId: actor, subject, data }], at)
        events.push({
          partnership_id: pid,
          seq: e!.seq,
          type,
          actor_id: actor,
          subject_type: subject.type,
          subject_id: subject.id,
          data: sql.json(data as never),
          at,
          prev_hash: e!.prevHash,
          hash: e!.hash
        })
        head = { seq: e!.seq, hash: e!.hash }
      }
      event(
        'partnership.created',
        alice,
        { type: 'partnership', id: pid },
        { name: `Bench ${i}`, timezone: 'Europe/Paris' },
        began
      )
      event('member.joined', alice, { type: 'user', id: alice }, { role: 'partner' }, began)
      event('member.joined', bob, { type: 'user', id: bob }, { role: 'partner' }, began)
      /**
       * The active agreement's last 12 months, as the API would have written them: its incidents (reported,
       * answered by their subject, resolved by a partner), appreciations and completed early reviews, each
       * with its events, chained in time order; the agreement's counters and revision follow.
       */
      const history = (aid: string, agreement: Record<string, unknown>) => {
        const steps: Array<{
          at: Date
          type: string
          actor: string
          subject: { type: string; id: string }
          data: Record<string, unknown>
        }> = []
        const hours = (i % 24) * 3_600_000 // partnerships differ by the hour
        let revision = agreement.revision as number
        let updatedAt = agreement.updated_at as Date
        const revise = (at: Date) => {
          revision++
          if (at > updatedAt) updatedAt = at
        }
        let open = 0
        let lastIncidentAt: Date | null = null
        const slot = (YEAR_DAYS * DAY) / Math.max(1, opts.incidentsPer)
        for (let k = 0; k < opts.incidentsPer; k++) {
          const id = newId()
          const subject = k % 2 === 0 ? alice : bob
          const other = subject === alice ? bob : alice
          const reporter = k % 5 === 0 ? subject : other // every fifth is a self-report
          const occurredAt = new Date(now.getTime() - YEAR_DAYS * DAY + (k + 0.5) * slot + hours)
          const reportedAt = new Date(occurredAt.getTime() + 2 * 3_600_000)
          const status = incidentStatus(k, opts.incidentsPer)
          const answer =
            status === 'reported' ? null : status === 'resolved' ? (k % 2 ? 'disputed' : 'acknowledged') : status
          const answeredAt = answer === null ? null : new Date(reportedAt.getTime() + DAY)
          const resolvedAt = status === 'resolved' ? new Date(answeredAt!.getTime() + 2 * DAY) : null
          const consequenceIndex = status === 'resolved' ? (k % 3 === 0 ? null : 0) : null
          incidents.push({
            id,
            partnership_id: pid,
            agreement_id: aid,
            version_number: 1,
            clause_key: clause.key,
            clause: sql.json(clauseSnapshot as never),
            subject_id: subject,
            reporter_id: reporter,
            status,
            occurred_at: occurredAt,
            description: texts.seal(reporter, `Bench incident ${k}`, `incident.description:${id}`),
            reported_at: reportedAt,
            answer,
            answer_note:
              answer === 'disputed'
                ? texts.seal(subject, 'We remember it differently.', `incident.answer-note:${id}`)
                : null,
            answered_at: answeredAt,
            consequence_index: consequenceIndex,
            resolution_note: resolvedAt
              ? texts.seal(reporter, 'We talked it through.', `incident.resolution-note:${id}`)
              : null,
            resolved_by: resolvedAt ? reporter : null,
            resolved_at: resolvedAt,
            updated_at: resolvedAt ?? answeredAt ?? reportedAt
          })
          const ref = { type: 'incident', id }
          steps.push({
            at: reportedAt,
            type: 'incident.reported',
            actor: reporter,
            subject: ref,
            data: { agreementId: aid, versionNumber: 1, clauseKey: clause.key, subjectId: subject, status: 'reported' }
          })
          revise(reportedAt)
          open++
          if (lastIncidentAt === null || occurredAt > lastIncidentAt) lastIncidentAt = occurredAt
          if (answer !== null)
            steps.push({
              at: answeredAt!,
              type: `incident.${answer}`,
              actor: subject,
              subject: ref,
              data: { agreementId: aid, clauseKey: clause.key, status: answer }
            })
          if (resolvedAt !== null) {
            steps.push({
              at: resolvedAt,
              type: 'incident.resolved',
              actor: reporter,
              subject: ref,
              data: { agreementId: aid, clauseKey: clause.key, consequenceIndex, status: 'resolved' }
            })
            revise(resolvedAt)
            open--
          }
        }
        const every = (YEAR_DAYS * DAY) / Math.max(1, opts.appreciationsPer)
        for (let k = 0; k < opts.appreciationsPer; k++) {
          const id = newId()
          const author = k % 2 === 0 ? bob : alice
          const createdAt = new Date(now.getTime() - YEAR_DAYS * DAY + (k + 0.25) * every + hours)
          const clauseKey = k % 3 === 0 ? null : clause.key
          appreciations.push({
            id,
            partnership_id: pid,
            agreement_id: aid,
            version_number: 1,
            clause_key: clauseKey,
            author_id: author,
            text: texts.seal(author, `Thank you for keeping it (${k}).`, `appreciation.text:${id}`),
            created_at: createdAt
          })
          steps.push({
            at: createdAt,
            type: 'appreciation.added',
            actor: author,
            subject: { type: 'appreciation', id },
            data: { agreementId: aid, versionNumber: 1, clauseKey }
          })
        }
        // Early reviews 8 weeks apart, the last one 8 weeks ago, every one kept; one answered late (not on time).
        for (let r = 0; r < opts.completedReviews; r++) {
          const id = newId()
          const openedAt = new Date(now.getTime() - (opts.completedReviews - r) * 56 * DAY + hours)
          const opener = r % 2 === 0 ? alice : bob
          const answers = [
            { user: alice, rating: [4, 3, 5, 4, 5, 4][r % 6]!, at: new Date(openedAt.getTime() + DAY) },
            {
              user: bob,
              rating: [3, 4, 4, 5, 5, 3][r % 6]!,
              at: new Date(openedAt.getTime() + (r === 2 ? 9 : 3) * DAY)
            }
          ]
          const closedAt = answers[1]!.at
          reviews.push({
            id,
            partnership_id: pid,
            agreement_id: aid,
            version_number: 1,
            trigger: 'early',
            status: 'completed',
            due_at: openedAt,
            required_responders: sql.json([alice, bob] as never),
            outcome: 'keep',
            opened_by: opener,
            opened_at: openedAt,
            closed_at: closedAt,
            overdue_at: null
          })
          const ref = { type: 'review', id }
          steps.push({
            at: openedAt,
            type: 'review.opened',
            actor: opener,
            subject: ref,
            data: { agreementId: aid, versionNumber: 1, trigger: 'early', dueAt: openedAt.toISOString() }
          })
          for (const a of answers) {
            responses.push({
              review_id: id,
              user_id: a.user,
              outcome: 'keep',
              rating: a.rating,
              note: null,
              responded_at: a.at
            })
            steps.push({
              at: a.at,
              type: 'review.responded',
              actor: a.user,
              subject: ref,
              data: { agreementId: aid, outcome: 'keep', rating: a.rating }
            })
          }
          steps.push({
            at: closedAt,
            type: 'review.completed',
            actor: bob,
            subject: ref,
            data: { agreementId: aid, outcome: 'keep' }
          })
          revise(closedAt)
        }
        // A stable sort: steps at the same instant keep the order they were taken in.
        steps.sort((x, y) => x.at.getTime() - y.at.getTime())
        for (const st of steps) event(st.type, st.actor, st.subject, st.data, st.at)
        Object.assign(agreement, {
          open_incidents: open,
          last_incident_at: lastIncidentAt,
          revision,
          updated_at: updatedAt
        })
      }
      // The active agreement dates from `began`; the proposals are made now.
      const addAgreement = async (active: boolean) => {
        const at = active ? began : now
        const aid = newId()
        const vid = newId()
        const contentHash = contentHashOf({ agreementId: aid, number: 1, kind: 'terms', previousHash: null, content })
        const next = active ? nextOccurrence(content.review, 'Europe/Paris', at, now) : null
        agreements.push({
          id: aid,
          partnership_id: pid,
          title: content.title,
          category: content.category,
          lifecycle: active ? 'active' : 'proposed',
          active_version: active ? 1 : null,
          open_proposal: active ? null : 1,
          last_version_number: 1,
          next_review_at: next,
          revision_requested: false,
          ever_proposed: true,
          open_incidents: 0,
          last_incident_at: null,
          revision: 3,
          created_by: alice,
          created_at: at,
          updated_at: at
        })
        versions.push({
          id: vid,
          agreement_id: aid,
          number: 1,
          kind: 'terms',
          status: active ? 'active' : 'proposed',
          content: sql.json(content as never),
          content_hash: contentHash,
          previous_hash: null,
          based_on: null,
          author_id: alice,
          required_signers: sql.json([alice, bob] as never),
          revision: 1,
          created_at: at,
          proposed_at: at,
          activated_at: active ? at : null
        })
        event('agreement.created', alice, { type: 'agreement', id: aid }, { category: content.category }, at)
        event(
          'version.proposed',
          alice,
          { type: 'version', id: vid },
          { agreementId: aid, number: 1, kind: 'terms', basedOn: null, contentHash },
          at
        )
        for (const signer of active ? [alice, bob] : [alice]) {
          const receipt = await keys.signJws(
            {
              iss: opts.issuer,
              partnershipId: pid,
              agreementId: aid,
              version: 1,
              contentHash,
              signerId: signer,
              signedAt: at.toISOString()
            },
            RECEIPT_TYP
          )
          signatures.push({
            id: newId(),
            version_id: vid,
            signer_id: signer,
            content_hash: contentHash,
            signed_at: at,
            receipt
          })
          event(
            'version.signed',
            signer,
            { type: 'version', id: vid },
            { agreementId: aid, number: 1, contentHash },
            at
          )
        }
        if (active)
          event(
            'version.activated',
            bob,
            { type: 'version', id: vid },
            { agreementId: aid, number: 1, contentHash },
            at
          )
        return { aid, contentHash, row: agreements.at(-1)! }
      }
      const main = await addAgreement(true)
      history(main.aid, main.row)
      seeded.readers.push({ subject: aSub, partnershipId: pid, agreementId: main.aid })
      for (let k = 0; k < opts.proposalsPer; k++) {
        const p = await addAgreement(false)
        seeded.proposals.push({ subject: bSub, partnershipId: pid, agreementId: p.aid, contentHash: p.contentHash })
      }
      if (i < opts.eventHeavy) {
        for (let k = 0; k < 40; k++)
          event('partnership.updated', alice, { type: 'partnership', id: pid }, { name: `Bench ${i}` })
      }
      if (i < opts.withReviews) {
        const rid = randomUUID()
        reviews.push({
          id: rid,
          partnership_id: pid,
          agreement_id: main.aid,
          version_number: 1,
          trigger: 'early',
          status: 'open',
          due_at: now,
          required_responders: sql.json([alice, bob] as never),
          outcome: null,
          opened_by: alice,
          opened_at: now,
          closed_at: null,
          overdue_at: null
        })
        event(
          'review.opened',
          alice,
          { type: 'review', id: rid },
          { agreementId: main.aid, versionNumber: 1, trigger: 'early', dueAt: now.toISOString() }
        )
        seeded.reviewers.push(aSub)
      }
    }
    const insert = async (table: string, rows: readonly Record<string, unknown>[]) => {
      for (let j = 0; j < rows.length; j += 1000)
        await sql`insert into ${sql(table)} ${sql(rows.slice(j, j + 1000) as never)}`
    }
    // PostgreSQL writes this batch while the next one is built (hashes, receipts): the two overlap on two cores.
    await pending
    pending = (async () => {
      for (const [table, rows] of [
        ['users', users],
        ['data_keys', texts.rows.slice()],
        ['partnerships', partnerships],
        ['memberships', memberships],
        ['agreements', agreements],
        ['agreement_versions', versions],
        ['signatures', signatures],
        ['events', events],
        ['reviews', reviews],
        ['review_responses', responses],
        ['incidents', incidents],
        ['appreciations', appreciations]
      ] as const)
        await insert(table, rows)
    })()
    pending.catch(() => {}) // awaited (and thrown) before the next batch's inserts, or after the last
    if ((start / BATCH) % 4 === 0)
      log(`  seeded ${Math.min(start + BATCH, opts.partnerships)} / ${opts.partnerships} partnerships`)
  }
  await pending
  await sql`analyze`
  return seeded
}
