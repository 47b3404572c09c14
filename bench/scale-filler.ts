// bench:scale's bulk filler at the larger size: incidents and appreciations for the bulk-added agreements, and
// events and open reviews for the bulk-added partnerships (scale.ts adds the agreements themselves).
import type { Sql } from 'postgres'

/** When the k-th (1-based) of a bulk-added agreement's incidents occurred: spread over the last 12 months, as seeded. */
export const occurredAt = (k: string, fillerPer: number) =>
  `(now() - interval '365 days' + (${k} - 0.5) * interval '${365 / fillerPer} days')`
/** The seed's mix (seed.ts, incidentStatus): the two newest reported, then two acknowledged, two disputed, the rest resolved. */
const fillerStatus = (
  fillerPer: number
) => `case when ${fillerPer} - k < 2 then 'reported' when ${fillerPer} - k < 4 then 'acknowledged'
  when ${fillerPer} - k < 6 then 'disputed' else 'resolved' end`

/**
 * fillerPer incidents and appreciations for each bulk-added agreement (about 20 million rows each at the default),
 * with time-ordered ids. Like the bulk-added agreements they are filler (their clause is no version's), written
 * the way bulk loads are: each table's secondary indexes are dropped and rebuilt around the insert, and a superuser
 * skips the foreign-key triggers (every reference is to an existing row). The two tables load side by side. Their
 * texts carry the `plain:` mark of texts written before data keys (read as written; sealed at Accord's next start).
 */
export async function fillerIncidents(sql: Sql, fillerPer: number, log: (s: string) => void) {
  log(`adding ${fillerPer} incidents and ${fillerPer} appreciations to each bulk-added agreement…`)
  const t0 = Date.now()
  const [{ superuser }] =
    (await sql`select rolsuper as superuser from pg_roles where rolname = current_user`) as unknown as [
      { superuser: boolean }
    ]
  const filler = `select a.id, a.partnership_id, a.created_by, k, row_number() over () as n
    from agreements a cross join generate_series(1, ${fillerPer}) k where a.title = 'Filler'`
  const id = (marker: string) =>
    `(lpad(to_hex(n), 8, '0') || '-${marker}-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid`
  const bulk = (table: string, insert: string) =>
    sql.begin(async (tx) => {
      if (superuser) await tx.unsafe('set local session_replication_role = replica')
      await tx.unsafe(`set local maintenance_work_mem = '512MB'`)
      const indexes = await tx`select indexname, indexdef from pg_indexes
        where schemaname = current_schema() and tablename = ${table} and indexname <> ${`${table}_pkey`}`
      for (const i of indexes) await tx.unsafe(`drop index ${i.indexname as string}`)
      await tx.unsafe(insert)
      for (const i of indexes) await tx.unsafe(i.indexdef as string)
    })
  await Promise.all([
    bulk(
      'incidents',
      `insert into incidents (id, partnership_id, agreement_id, version_number, clause_key, clause, subject_id, reporter_id,
          status, occurred_at, description, reported_at, answer, answer_note, answered_at, consequence_index, resolution_note,
          resolved_by, resolved_at, updated_at)
        select ${id('0001')}, partnership_id, id, 1, 'filler', '{"key":"filler","text":"Filler.","consequences":["Filler."]}',
          created_by, created_by, status, at, 'plain:Filler', at + interval '2 hours',
          case status when 'reported' then null when 'resolved' then 'acknowledged' else status end,
          case status when 'disputed' then 'plain:Filler.' end,
          case when status <> 'reported' then at + interval '26 hours' end,
          null, case status when 'resolved' then 'plain:Filler.' end, case status when 'resolved' then created_by end,
          case status when 'resolved' then at + interval '74 hours' end,
          at + case status when 'reported' then interval '2 hours' when 'resolved' then interval '74 hours' else interval '26 hours' end
        from (select f.*, ${fillerStatus(fillerPer)} as status, ${occurredAt('k', fillerPer)} as at from (${filler}) f) x`
    ),
    bulk(
      'appreciations',
      `insert into appreciations (id, partnership_id, agreement_id, version_number, clause_key, author_id, text, created_at)
        select ${id('0002')}, partnership_id, id, 1, null, created_by, 'plain:Filler', ${occurredAt('k', fillerPer)} - interval '1 day'
        from (${filler}) f`
    )
  ])
  log(`  added in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
}

/**
 * eventsPer events for each bulk-added partnership and an open review for about one bulk-added agreement in ten.
 * Filler too: the hashes chain nothing a verification would accept (no bench verifies a bulk-added
 * partnership), and a superuser loads them without triggers (the webhook outbox's, which finds no webhook).
 */
export async function fillerEventsAndReviews(
  sql: Sql,
  partnerships: number,
  eventsPer: number,
  log: (s: string) => void
) {
  log(`adding ${eventsPer} events to each bulk-added partnership, and an open review to about one agreement in ten…`)
  const t0 = Date.now()
  const [{ superuser }] =
    (await sql`select rolsuper as superuser from pg_roles where rolname = current_user`) as unknown as [
      { superuser: boolean }
    ]
  await sql.begin(async (tx) => {
    if (superuser) await tx.unsafe('set local session_replication_role = replica')
    await tx.unsafe(`
      insert into events (partnership_id, seq, type, actor_id, subject_type, subject_id, data, at, prev_hash, hash)
        select p, k, 'partnership.updated', null, 'partnership', p::text, '{"name":"Filler"}'::jsonb,
          now() - interval '400 days' + k * interval '1 day',
          case when k > 1 then md5(p::text || (k - 1)) end, md5(p::text || k)
        from (select (lpad(to_hex(g), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid as p
          from generate_series(1, ${partnerships}) g) s cross join generate_series(1, ${eventsPer}) k`)
    await tx.unsafe(`
      insert into reviews (id, partnership_id, agreement_id, version_number, trigger, status, due_at, required_responders,
          outcome, opened_by, opened_at, closed_at, overdue_at)
        select gen_random_uuid(), a.partnership_id, a.id, 1, 'early', 'open', now() + interval '7 days',
          jsonb_build_array(a.created_by), null, a.created_by, now(), null, null
        from agreements a where a.title = 'Filler' and a.open_proposal is null and a.last_version_number = 1
          and a.next_review_at < now() + interval '37 days'`)
  })
  log(`  added in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
}
