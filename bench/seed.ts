// Seeds a benchmark database directly (bulk inserts): real content hashes, real receipt JWS and real
// hash-chained events, so every row is one the API itself could have written.
import { randomUUID } from 'node:crypto'
import type { Sql } from 'postgres'
import { nextOccurrence } from '../src/agreements/cadence.rules.ts'
import type { TermsContent } from '../src/agreements/content.schemas.ts'
import { RECEIPT_TYP } from '../src/agreements/signature.rules.ts'
import { contentHashOf } from '../src/agreements/version.rules.ts'
import { chainEvents } from '../src/audit/event.rules.ts'
import { newId } from '../src/db/columns.ts'
import type { ServiceKeys } from '../src/keys/key.service.ts'

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

export async function seed(
  sql: Sql,
  keys: ServiceKeys,
  opts: { issuer: string; partnerships: number; proposalsPer: number; eventHeavy: number; withReviews: number },
  log: (s: string) => void
): Promise<Seeded> {
  const now = new Date()
  const seeded: Seeded = { readers: [], proposals: [], reviewers: [] }
  const BATCH = 500
  for (let start = 0; start < opts.partnerships; start += BATCH) {
    const users: Record<string, unknown>[] = []
    const partnerships: Record<string, unknown>[] = []
    const memberships: Record<string, unknown>[] = []
    const agreements: Record<string, unknown>[] = []
    const versions: Record<string, unknown>[] = []
    const signatures: Record<string, unknown>[] = []
    const events: Record<string, unknown>[] = []
    const reviews: Record<string, unknown>[] = []
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
          created_at: now,
          updated_at: now
        })
      partnerships.push({
        id: pid,
        name: `Bench ${i}`,
        timezone: 'Europe/Paris',
        status: 'active',
        revision: 1,
        created_at: now,
        updated_at: now
      })
      memberships.push(
        { id: newId(), partnership_id: pid, user_id: alice, role: 'partner', joined_at: now },
        { id: newId(), partnership_id: pid, user_id: bob, role: 'partner', joined_at: now }
      )
      // Chained exactly as the API chains them (chainEvents), one at a time after the head so far.
      let head: { seq: number; hash: string } | null = null
      const event = (
        type: string,
        actor: string,
        subject: { type: string; id: string },
        data: Record<string, unknown>
      ) => {
        const [e] = chainEvents(head, [{ partnershipId: pid, type, actorId: actor, subject, data }], now)
        events.push({
          partnership_id: pid,
          seq: e!.seq,
          type,
          actor_id: actor,
          subject_type: subject.type,
          subject_id: subject.id,
          data: sql.json(data as never),
          at: now,
          prev_hash: e!.prevHash,
          hash: e!.hash
        })
        head = { seq: e!.seq, hash: e!.hash }
      }
      event(
        'partnership.created',
        alice,
        { type: 'partnership', id: pid },
        { name: `Bench ${i}`, timezone: 'Europe/Paris' }
      )
      event('member.joined', alice, { type: 'user', id: alice }, { role: 'partner' })
      event('member.joined', bob, { type: 'user', id: bob }, { role: 'partner' })
      const addAgreement = async (active: boolean) => {
        const aid = newId()
        const vid = newId()
        const contentHash = contentHashOf({ agreementId: aid, number: 1, kind: 'terms', previousHash: null, content })
        const next = active ? nextOccurrence(content.review, 'Europe/Paris', now, now) : null
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
          revision: 3,
          created_by: alice,
          created_at: now,
          updated_at: now
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
          created_at: now,
          proposed_at: now,
          activated_at: active ? now : null
        })
        event('agreement.created', alice, { type: 'agreement', id: aid }, { category: content.category })
        event(
          'version.proposed',
          alice,
          { type: 'version', id: vid },
          { agreementId: aid, number: 1, kind: 'terms', basedOn: null, contentHash }
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
              signedAt: now.toISOString()
            },
            RECEIPT_TYP
          )
          signatures.push({
            id: newId(),
            version_id: vid,
            signer_id: signer,
            content_hash: contentHash,
            signed_at: now,
            receipt
          })
          event('version.signed', signer, { type: 'version', id: vid }, { agreementId: aid, number: 1, contentHash })
        }
        if (active)
          event('version.activated', bob, { type: 'version', id: vid }, { agreementId: aid, number: 1, contentHash })
        return { aid, contentHash }
      }
      const main = await addAgreement(true)
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
          opened_by: alice,
          opened_at: now
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
    const insert = async (table: string, rows: Record<string, unknown>[]) => {
      for (let j = 0; j < rows.length; j += 1000)
        await sql`insert into ${sql(table)} ${sql(rows.slice(j, j + 1000) as never)}`
    }
    await insert('users', users)
    await insert('partnerships', partnerships)
    await insert('memberships', memberships)
    await insert('agreements', agreements)
    await insert('agreement_versions', versions)
    await insert('signatures', signatures)
    await insert('events', events)
    await insert('reviews', reviews)
    if ((start / BATCH) % 4 === 0)
      log(`  seeded ${Math.min(start + BATCH, opts.partnerships)} / ${opts.partnerships} partnerships`)
  }
  await sql`analyze`
  return seeded
}
