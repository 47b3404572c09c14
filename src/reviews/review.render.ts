// GET /v1/me/reviews rendered to JSON by PostgreSQL, in one statement with the membership join and the notes'
// data keys. The reference it must equal is toReview (review.schemas.ts) over listMyOpenReviews' rows, as the
// response schema serializes it; test/reviews/rendering.test.ts holds them equal byte for byte.
import type { DbOrTx } from '../db/client.ts'
import { execute, isoText as iso } from '../db/driver.ts'
import { PLAIN_MARK } from '../users/personal-text.service.ts'

/**
 * Where a note goes in the rendered text: the JSON string of U+0001. Every note that reads as text (sealed
 * under its author's key, or stored plain before data keys) is a slot, opened and spliced in by the
 * application, which alone holds the key-encryption key; the database renders no free text at all (ids,
 * enums, numbers, instants), so this token is found only where a note goes. (Were plain notes rendered by the
 * database, one ending in a quote and U+0001 would end in this very token and shift every note after it.)
 */
export const NOTE_SLOT = '"\\u0001"'

// $1 caller, $2 the id to continue after (null: from the start), $3 the page's limit. Compact JSON in the
// schema's key order (to_json of a row, array_to_json: no spaces), as the response schema would send it.
// `more` says whether more reviews follow; `slots` lists, in the order they appear, each note's author, review,
// stored value and the author's sealed data key (null for a plain note; a sealed note without one is its erased
// author's, rendered null, erased: true, and never a slot).
export const MY_OPEN_REVIEWS_JSON = `with page as (
    select r.* from reviews r
    join memberships m on m.partnership_id = r.partnership_id and m.user_id = $1::uuid and m.left_at is null
    where r.status = 'open' and ($2::uuid is null or r.id > $2::uuid)
    order by r.id limit $3::int + 1),
  shown as (select * from page order by id limit $3::int),
  answers as (
    select rr.review_id, rr.user_id, rr.outcome, rr.rating, rr.note, rr.responded_at, k.sealed_key,
      row_number() over (order by rr.review_id, rr.responded_at, rr.user_id) as n,
      rr.note is not null and left(rr.note, ${PLAIN_MARK.length}) <> '${PLAIN_MARK}' as sealed
    from review_responses rr left join data_keys k on k.user_id = rr.user_id
    where rr.review_id in (select id from shown))
  select
    (select '[' || coalesce(string_agg(to_json(x)::text, ',' order by x.id), '') || ']' from (
      select r.id, r.agreement_id as "agreementId", r.version_number as "versionNumber", r.trigger, r.status,
        ${iso('r.due_at')} as "dueAt", r.overdue_at is not null as overdue, r.outcome,
        array(select jsonb_array_elements_text(r.required_responders)) as "requiredResponders",
        array(select to_json(y) from (
            select a.user_id as "userId", a.outcome, a.rating,
              case when a.note is null or (a.sealed and a.sealed_key is null) then null else chr(1) end as note,
              a.sealed and a.sealed_key is null as erased, ${iso('a.responded_at')} as "respondedAt"
            from answers a where a.review_id = r.id order by a.n) y) as responses,
        ${iso('r.opened_at')} as "openedAt", ${iso('r.closed_at')} as "closedAt"
      from shown r) x) as items,
    (select id from shown order by id desc limit 1) as last_id,
    (select count(*) from page) > $3::int as more,
    (select coalesce(json_agg(json_build_array(a.user_id, a.review_id, a.note, a.sealed_key) order by a.n), '[]')::text
      from answers a where a.note is not null and not (a.sealed and a.sealed_key is null)) as slots`

/** A note to open: its author, its review, its stored value and the author's sealed data key (null: a plain note). */
export type NoteSlot = [userId: string, reviewId: string, note: string, sealedKey: string | null]

export async function renderMyOpenReviews(
  db: DbOrTx,
  userId: string,
  afterId: string | null,
  limit: number
): Promise<{ items: string; lastId: string | null; more: boolean; slots: NoteSlot[] }> {
  const [row] = await execute(db, MY_OPEN_REVIEWS_JSON, [userId, afterId, limit])
  return {
    items: row!.items as string,
    lastId: (row!.last_id as string | null) ?? null,
    more: row!.more === true,
    slots: JSON.parse(row!.slots as string) as NoteSlot[]
  }
}
