// GET events rendered to JSON by PostgreSQL with the membership check, in one statement. The reference it must
// equal is toEventView (event.rules.ts) over listEvents' rows; test/audit/rendering.test.ts holds them equal.
import type { DbOrTx } from '../db/client.ts'
import { execute, isoText } from '../db/driver.ts'

/**
 * A page of the log rendered to JSON by PostgreSQL (the Event schema, field for
 * field what toEventView gives; a test holds the two equal), with whether the
 * caller is a current member, in one statement: `items` is a JSON array (null
 * when empty), `lastSeq` the seq of its last event and `more` whether any follow.
 */
export const EVENTS_PAGE_JSON = `with page as (
    select * from events where partnership_id = $1::uuid and seq > $3::int order by seq limit $4::int + 1
  ), shown as (select * from page order by seq limit $4::int)
  select exists (select 1 from memberships m where m.partnership_id = $1::uuid and m.user_id = $2::uuid and m.left_at is null) as member,
    (select json_agg(json_build_object('seq', e.seq, 'partnershipId', e.partnership_id, 'type', e.type, 'actorId', e.actor_id,
        'subject', json_build_object('type', e.subject_type, 'id', e.subject_id), 'data', e.data, 'at', ${isoText('e.at')},
        'prevHash', e.prev_hash, 'hash', e.hash) order by e.seq)::text from shown e) as items,
    (select max(seq) from shown) as last_seq,
    (select count(*) from page) > $4::int as more`

export async function renderEventsPage(
  db: DbOrTx,
  partnershipId: string,
  userId: string,
  afterSeq: number,
  limit: number
): Promise<{ member: boolean; items: string; lastSeq: number | null; more: boolean }> {
  const [row] = await execute(db, EVENTS_PAGE_JSON, [partnershipId, userId, afterSeq, limit])
  return {
    member: row!.member === true,
    items: (row!.items as string | null) ?? '[]',
    lastSeq: row!.last_seq === null ? null : Number(row!.last_seq),
    more: row!.more === true
  }
}
