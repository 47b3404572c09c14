// GET events rendered to JSON by PostgreSQL with the membership check, in one statement. The reference it must
// equal is toEventView (event.rules.ts) over listEvents' rows; test/audit/rendering.test.ts holds them equal.
import { LRUCache } from 'lru-cache'
import type { DbOrTx } from '../db/client.ts'
import { execute, isoText } from '../db/driver.ts'

/** One event `e` as the API shows it: the items of GET …/events and the `data:` of the stream are this text. */
const EVENT_JSON = `json_build_object('seq', e.seq, 'partnershipId', e.partnership_id, 'type', e.type, 'actorId', e.actor_id,
  'subject', json_build_object('type', e.subject_type, 'id', e.subject_id), 'data', e.data, 'at', ${isoText('e.at')},
  'prevHash', e.prev_hash, 'hash', e.hash)`

// The versions of the rows a page was read from, and of the one after it: their xmin (the transaction that
// wrote each row version) in seq order. Any append within reach, and any row changed or deleted even behind the
// append-only triggers (which verify reports, and which a client recomputing the hashes must see), changes it.
const VERSIONS = `string_agg(p.xmin::text, ',' order by p.seq)`

/**
 * A page of the log rendered to JSON by PostgreSQL (the Event schema, field for
 * field what toEventView gives; a test holds the two equal), with whether the
 * caller is a current member, in one statement: `items` is a JSON array (null
 * when empty), `lastSeq` the seq of its last event, `more` whether any follow and
 * `versions` what validates the page kept in memory (EVENTS_CHECK).
 */
export const EVENTS_PAGE_JSON = `with page as (
    select e.xmin, e.* from events e where partnership_id = $1::uuid and seq > $3::int order by seq limit $4::int + 1
  ), shown as (select * from page order by seq limit $4::int)
  select exists (select 1 from memberships m where m.partnership_id = $1::uuid and m.user_id = $2::uuid and m.left_at is null) as member,
    (select json_agg(${EVENT_JSON} order by e.seq)::text from shown e) as items,
    (select max(seq) from shown) as last_seq,
    (select count(*) from page) > $4::int as more,
    (select ${VERSIONS} from page p) as versions`

export async function renderEventsPage(
  db: DbOrTx,
  partnershipId: string,
  userId: string,
  afterSeq: number,
  limit: number
): Promise<{ member: boolean; items: string; lastSeq: number | null; more: boolean; versions: string }> {
  const [row] = await execute(db, EVENTS_PAGE_JSON, [partnershipId, userId, afterSeq, limit])
  return {
    member: row!.member === true,
    items: (row!.items as string | null) ?? '[]',
    lastSeq: row!.last_seq === null ? null : Number(row!.last_seq),
    more: row!.more === true,
    versions: (row!.versions as string | null) ?? ''
  }
}

// $1 partnership, $2 caller, $3 after, $4 limit: whether the caller is a current member, and the page's versions.
export const EVENTS_CHECK = `select exists (select 1 from memberships m
      where m.partnership_id = $1::uuid and m.user_id = $2::uuid and m.left_at is null) as member,
    (select ${VERSIONS} from (select e.xmin, e.seq from events e
      where e.partnership_id = $1::uuid and e.seq > $3::int order by e.seq limit $4::int + 1) p) as versions`

/** What validates a page kept in memory: whether the caller is a current member, and the page's row versions. */
export async function eventsCheck(
  db: DbOrTx,
  partnershipId: string,
  userId: string,
  afterSeq: number,
  limit: number
): Promise<{ member: boolean; versions: string }> {
  const [row] = await execute(db, EVENTS_CHECK, [partnershipId, userId, afterSeq, limit])
  return { member: row!.member === true, versions: (row!.versions as string | null) ?? '' }
}

/** A page of GET …/events as sent (the whole body, as bytes), and the row versions it was read from. */
export interface KeptEventsPage {
  readonly versions: string
  readonly body: Buffer
}

/**
 * Pages of GET …/events by partnership, position and limit (the same bytes for every member: EVENT_JSON holds
 * nothing of the caller), least recently used out first, bounded in bytes (EVENTS_CACHE_MB; a page larger than
 * the bound is not kept). An entry is served only after the database confirmed, in the same request, that the
 * caller is a current member and that the page's rows and the row after it are the very row versions it was
 * rendered from (VERSIONS): no statement renders the JSON again, nothing is ever served that the table does not
 * hold, and a leaver or an erased account (no longer a member) gets no byte of it. Per process; nothing to
 * invalidate: a page nobody may read any more stays until pushed out, and is never served.
 */
export type EventPages = LRUCache<string, KeptEventsPage>

export function eventPages(maxBytes: number): EventPages | null {
  if (maxBytes <= 0) return null
  return new LRUCache<string, KeptEventsPage>({
    maxSize: maxBytes,
    sizeCalculation: (v) => v.body.length + v.versions.length + 200
  })
}

/**
 * The events after `afterSeq` (at most `limit`, in order), each as the JSON text GET …/events shows, with
 * whether `userId` is a current member, in one statement: what a live stream sends next, and whether it may.
 */
export const EVENTS_AFTER_JSON = `with shown as (
    select * from events where partnership_id = $1::uuid and seq > $3::int order by seq limit $4::int)
  select m.member, e.seq, e.type, ${EVENT_JSON}::text as json
  from (select exists (select 1 from memberships m where m.partnership_id = $1::uuid and m.user_id = $2::uuid and m.left_at is null) as member) m
    left join shown e on true
  order by e.seq`

/**
 * The same for every stream of one partnership at once: the events after `afterSeq` (the least any of them
 * sent) and which of `userIds` are current members, in one statement, so that a wake-up costs one read per
 * partnership and instance however many streams follow it.
 */
export const EVENTS_AFTER_FOR_MEMBERS_JSON = `with shown as (
    select * from events where partnership_id = $1::uuid and seq > $3::int order by seq limit $4::int)
  select m.members, e.seq, e.type, ${EVENT_JSON}::text as json
  from (select coalesce((select json_agg(m.user_id) from memberships m
      where m.partnership_id = $1::uuid and m.user_id = any($2::uuid[]) and m.left_at is null), '[]')::text as members) m
    left join shown e on true
  order by e.seq`

export async function renderEventsAfterForMembers(
  db: DbOrTx,
  partnershipId: string,
  userIds: readonly string[],
  afterSeq: number,
  limit: number
): Promise<{ members: Set<string>; events: RenderedEvent[] }> {
  const rows = await execute(db, EVENTS_AFTER_FOR_MEMBERS_JSON, [
    partnershipId,
    `{${userIds.join(',')}}`,
    afterSeq,
    limit
  ])
  return {
    members: new Set(JSON.parse((rows[0]?.members as string | undefined) ?? '[]') as string[]),
    events: rows
      .filter((r) => r.seq !== null)
      .map((r) => ({ seq: Number(r.seq), type: String(r.type), json: String(r.json) }))
  }
}

export interface RenderedEvent {
  seq: number
  type: string
  json: string
}

export async function renderEventsAfter(
  db: DbOrTx,
  partnershipId: string,
  userId: string,
  afterSeq: number,
  limit: number
): Promise<{ member: boolean; events: RenderedEvent[] }> {
  const rows = await execute(db, EVENTS_AFTER_JSON, [partnershipId, userId, afterSeq, limit])
  return {
    member: rows[0]?.member === true,
    events: rows
      .filter((r) => r.seq !== null)
      .map((r) => ({ seq: Number(r.seq), type: String(r.type), json: String(r.json) }))
  }
}
