// What GET …/{pid}/agenda lists, gathered by PostgreSQL in one statement (membership check included). Each list
// is bounded (AGENDA_LIMIT); agenda.schemas.ts maps the rows to the answer and adds each item's link. The lists
// are kept in memory per caller (AgendaBodies) and served again only while the partnership's log head, the
// caller's role and the clock say nothing could have changed them (one index probe: AGENDA_CHECK).
import { LRUCache } from 'lru-cache'
import type { DbOrTx } from '../db/client.ts'
import { execute, isoText as iso } from '../db/driver.ts'
import { stringBytes } from '../lib/text.ts'

/** At most this many items in each list of the agenda (and of each agreement's recent incidents and appreciations). */
export const AGENDA_LIMIT = 100
export const RECENT_LIMIT = 20

export interface AgendaFacts {
  role: 'partner' | 'observer'
  /** The partnership's log head when the lists were read: every change to a partnership appends to its log. */
  head: number
  /**
   * The first instant at which the lists could change with no write at all: an agreement's next review then
   * comes within the horizon (null: none will). Only time moves the agenda without a write.
   */
  validUntil: number | null
  reviews: Array<{
    reviewId: string | null
    agreementId: string
    title: string
    status: 'open' | 'upcoming'
    dueAt: string
    overdue: boolean
    youAreAsked: boolean
    youAnswered: boolean
  }>
  proposals: Array<{ agreementId: string; title: string; versionNumber: number; proposedAt: string }>
  incidents: Array<{
    id: string
    agreementId: string
    clauseKey: string
    status: 'reported' | 'acknowledged' | 'disputed'
    occurredAt: string
    awaitingYourAnswer: boolean
  }>
  suspended: Array<{ agreementId: string; title: string; updatedAt: string }>
  sinceLastReview: Array<{
    agreementId: string
    title: string
    since: string | null
    incidentCount: number
    appreciationCount: number
    incidents: Array<{ id: string; occurredAt: string }>
    appreciations: Array<{ id: string; createdAt: string }>
  }>
}

const asked = (column: string) => `${column} @> jsonb_build_array($2::text)`

// $1 partnership, $2 caller, $3 the horizon of upcoming reviews (ISO). The partnership's agreements are read
// once (\`mine\`) and every list is taken from them; nothing runs unless the caller is a current member.
export const AGENDA_FACTS = `with me as (
    select m.role from memberships m where m.partnership_id = $1 and m.user_id = $2 and m.left_at is null),
  mine as materialized (
    select a.id, a.title, a.lifecycle, a.open_proposal, a.next_review_at, a.updated_at
    from agreements a where a.partnership_id = $1),
  recent as materialized (
    select g.id, g.title, coalesce((select max(r.closed_at) from reviews r
        where r.agreement_id = g.id and r.status = 'completed' and r.outcome is not null), '-infinity') as since
    from mine g where g.lifecycle in ('active', 'suspended') order by g.id limit ${AGENDA_LIMIT})
  select me.role,
    (select e.seq from events e where e.partnership_id = $1 order by e.seq desc limit 1) as head,
    (select ${iso('min(a.next_review_at)')} from mine a where a.lifecycle = 'active' and a.next_review_at > $3::timestamptz)
      as next_entry,
    (select coalesce(json_agg(x order by x."dueAt", x."agreementId"), '[]') from (
      (select r.id as "reviewId", r.agreement_id as "agreementId", a.title, 'open' as status, ${iso('r.due_at')} as "dueAt",
          r.overdue_at is not null as overdue, ${asked('r.required_responders')} as "youAreAsked",
          exists (select 1 from review_responses rr where rr.review_id = r.id and rr.user_id = $2) as "youAnswered"
        from reviews r join mine a on a.id = r.agreement_id
        where r.partnership_id = $1 and r.status = 'open' order by r.due_at, r.agreement_id limit ${AGENDA_LIMIT})
      union all
      (select null, a.id, a.title, 'upcoming', ${iso('a.next_review_at')}, false, me.role = 'partner', false
        from mine a
        where a.lifecycle = 'active' and a.next_review_at <= $3::timestamptz
          and not exists (select 1 from reviews r where r.agreement_id = a.id and r.status = 'open')
        order by a.next_review_at, a.id limit ${AGENDA_LIMIT})
      order by "dueAt", "agreementId" limit ${AGENDA_LIMIT}) x)::text as reviews,
    (select coalesce(json_agg(x order by x."proposedAt", x."agreementId"), '[]') from (
      select a.id as "agreementId", a.title, v.number as "versionNumber", ${iso('v.proposed_at')} as "proposedAt"
      from mine a join agreement_versions v on v.agreement_id = a.id and v.number = a.open_proposal
      where v.status = 'proposed' and ${asked('v.required_signers')}
        and not exists (select 1 from signatures s where s.version_id = v.id and s.signer_id = $2 and s.revoked_at is null)
      order by v.proposed_at, a.id limit ${AGENDA_LIMIT}) x)::text as proposals,
    (select coalesce(json_agg(x order by x.id), '[]') from (
      select i.id, i.agreement_id as "agreementId", i.clause_key as "clauseKey", i.status, ${iso('i.occurred_at')} as "occurredAt",
        i.subject_id = $2 and i.status = 'reported' as "awaitingYourAnswer"
      from incidents i where i.partnership_id = $1 and i.status <> 'resolved'
        and exists (select 1 from partnerships p where p.id = $1 and p.status = 'active') -- a dissolved one resolves nothing
      order by i.id limit ${AGENDA_LIMIT}) x)::text as incidents,
    (select coalesce(json_agg(x order by x."agreementId"), '[]') from (
      select a.id as "agreementId", a.title, ${iso('a.updated_at')} as "updatedAt"
      from mine a where a.lifecycle = 'suspended' order by a.id limit ${AGENDA_LIMIT}) x)::text as suspended,
    (select coalesce(json_agg(json_build_object('agreementId', g.id, 'title', g.title,
        'since', case when g.since = '-infinity' then null else ${iso('g.since')} end,
        'incidentCount', (select count(*) from incidents i where i.agreement_id = g.id and i.reported_at > g.since),
        'appreciationCount', (select count(*) from appreciations x where x.agreement_id = g.id and x.created_at > g.since),
        'incidents', (select coalesce(json_agg(json_build_object('id', y.id, 'occurredAt', ${iso('y.occurred_at')}) order by y.occurred_at desc), '[]')
          from (select i.id, i.occurred_at from incidents i where i.agreement_id = g.id and i.reported_at > g.since
            order by i.occurred_at desc limit ${RECENT_LIMIT}) y),
        'appreciations', (select coalesce(json_agg(json_build_object('id', y.id, 'createdAt', ${iso('y.created_at')}) order by y.created_at desc), '[]')
          from (select x.id, x.created_at from appreciations x where x.agreement_id = g.id and x.created_at > g.since
            order by x.created_at desc limit ${RECENT_LIMIT}) y)
      ) order by g.id), '[]') from recent g)::text as since_last_review
  from me`

/** The agenda's facts for a current member; undefined for anyone else. */
export async function agendaFactsForMember(
  db: DbOrTx,
  input: { partnershipId: string; userId: string; asOf: Date; horizon: Date }
): Promise<AgendaFacts | undefined> {
  const horizonMs = input.horizon.getTime() - input.asOf.getTime()
  const [row] = await execute(db, AGENDA_FACTS, [input.partnershipId, input.userId, input.horizon.toISOString()])
  if (row === undefined) return undefined
  const nextEntry = row.next_entry as string | null
  return {
    role: row.role as AgendaFacts['role'],
    head: Number(row.head),
    validUntil: nextEntry === null ? null : Date.parse(nextEntry) - horizonMs,
    reviews: JSON.parse(row.reviews as string),
    proposals: JSON.parse(row.proposals as string),
    incidents: JSON.parse(row.incidents as string),
    suspended: JSON.parse(row.suspended as string),
    sinceLastReview: JSON.parse(row.since_last_review as string)
  }
}

// $1 partnership, $2 caller: the caller's role if a current member, and the partnership's log head.
export const AGENDA_CHECK = `select m.role,
    (select e.seq from events e where e.partnership_id = $1 order by e.seq desc limit 1) as head
  from memberships m where m.partnership_id = $1 and m.user_id = $2 and m.left_at is null`

/** What validates agenda lists kept in memory: the caller's role (undefined: not a current member) and the log head. */
export async function agendaCheck(
  db: DbOrTx,
  input: { partnershipId: string; userId: string }
): Promise<{ role: AgendaFacts['role']; head: number } | undefined> {
  const [row] = await execute(db, AGENDA_CHECK, [input.partnershipId, input.userId])
  return row === undefined ? undefined : { role: row.role as AgendaFacts['role'], head: Number(row.head) }
}

/** An agenda's lists as sent (JSON members after the header), and what they were read at. */
export interface KeptAgenda {
  readonly role: AgendaFacts['role']
  readonly head: number
  readonly validUntil: number | null
  readonly lists: string
}

/**
 * Agenda lists by partnership and caller, least recently used out first, bounded in bytes. An entry is served
 * only after the database confirmed, in the same request, that the caller is still a member with the same role
 * and that the partnership's log head has not moved, and only before its `validUntil`: every change to a
 * partnership appends to its log in the change's own transaction (test/architecture/writers.test.ts holds it for
 * every writer, and that the agenda it serves equals one read afresh). Per process; nothing to invalidate.
 */
export type AgendaBodies = LRUCache<string, KeptAgenda>

export function agendaBodies(maxBytes: number): AgendaBodies | null {
  if (maxBytes <= 0) return null
  return new LRUCache<string, KeptAgenda>({ maxSize: maxBytes, sizeCalculation: (v) => stringBytes(v.lists) + 200 })
}
