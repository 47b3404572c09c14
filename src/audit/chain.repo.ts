// The audit chain checked inside PostgreSQL: each event's JCS text is written by SQL (accord_jcs, migration
// 0014), hashed by sha256() and compared with the stored hash, its link and its seq checked with window
// functions, in one statement per range, so that only the first broken event (if any) leaves the database.
// The reference is hashEvent (event.rules.ts): test/audit/chain-sql.test.ts holds accord_jcs to the JCS
// library on generated values, and where SQL cannot be sure it writes what that library would, it says so
// (null) and Node checks that event itself.
import { sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { execute, isoText } from '../db/driver.ts'
import { chainBlocks } from './chain.sql.ts'

/**
 * An event's JCS text (RFC 8785) as hashEvent canonicalizes it, keys in code-unit order; null when
 * unsure: a time with microseconds or outside years 100–9999 (a Date read from the driver differs: V8 takes
 * year 50 for 1950), or data
 * accord_jcs cannot be sure of.
 */
const EVENT_JCS = `case when e.at = date_trunc('milliseconds', e.at)
    and e.at >= '0100-01-01T00:00:00Z' and e.at < '10000-01-01T00:00:00Z' then
  '{"actorId":' || coalesce(to_json(e.actor_id)::text, 'null') || ',"at":"' || ${isoText('e.at')}
  || '","data":' || accord_jcs(e.data) || ',"partnershipId":"' || e.partnership_id::text
  || '","prevHash":' || coalesce(to_json(e.prev_hash)::text, 'null') || ',"seq":' || e.seq::text
  || ',"subject":{"id":' || to_json(e.subject_id)::text || ',"type":' || to_json(e.subject_type)::text
  || '},"type":' || to_json(e.type)::text || '}' end`

/**
 * The first event in seqs ($2, $3] of partnership $1 that breaks the chain, in the order findChainBreak
 * checks (a missing seq, then the link to the previous hash, then the hash), or whose JCS text SQL could
 * not write with certainty ('unsure'). The link of the range's first event is checked against the stored
 * hash at $2 (checked in its turn by the range before, which also reports it missing), so ranges are
 * independent of each other. Early out: the scan stops at the first such event.
 */
export const FIRST_BREAK = `with run as (
    select e.seq, e.prev_hash, e.hash, row_number() over w + $2::int as expected, lag(e.hash) over w as prior,
      ${EVENT_JCS} as jcs
    from events e where e.partnership_id = $1::uuid and e.seq > $2::int and e.seq <= $3::int
    window w as (order by e.seq)
  ), linked as (
    select run.*, case when expected = $2::int + 1
        then (select hash from events where partnership_id = $1::uuid and seq = $2::int) else prior end as link
    from run)
  select * from ((
    select seq, expected, prev_hash, case
        when seq <> expected then 'seq-gap'
        when prev_hash is distinct from link then 'prev-hash-mismatch'
        when jcs is null then 'unsure'
        else 'hash-mismatch' end as reason
    from linked
    where seq <> expected or prev_hash is distinct from link or jcs is null
      or 'sha256:' || encode(sha256(convert_to(jcs, 'UTF8')), 'hex') <> hash
    order by seq limit 1
  ) union all (
    -- events missing at the range's end, where no later event of the range shows the gap
    select null, coalesce((select max(seq) from events where partnership_id = $1::uuid and seq > $2::int
        and seq <= $3::int), $2::int) + 1, null, 'seq-gap'
    where not exists (select 1 from events where partnership_id = $1::uuid and seq = $3::int)
  )) found order by expected limit 1`

export type DatabaseBreak =
  | { reason: 'seq-gap'; seq: number }
  | { reason: 'prev-hash-mismatch' | 'hash-mismatch'; seq: number }
  /** SQL could not write this event's JCS text with certainty; its link (prevHash) held. */
  | { reason: 'unsure'; seq: number; prevHash: string | null }

export async function firstBreakInDatabase(
  db: DbOrTx,
  partnershipId: string,
  afterSeq: number,
  upTo: number
): Promise<DatabaseBreak | null> {
  const [row] = await execute(db, FIRST_BREAK, [partnershipId, afterSeq, upTo])
  if (row === undefined) return null
  const reason = row.reason as DatabaseBreak['reason']
  if (reason === 'seq-gap') return { reason, seq: Number(row.expected) }
  if (reason === 'unsure') return { reason, seq: Number(row.seq), prevHash: row.prev_hash as string | null }
  return { reason, seq: Number(row.seq) }
}

/** The stored hashes at `seqs` (those that exist). */
export async function hashesAt(
  db: DbOrTx,
  partnershipId: string,
  seqs: readonly number[]
): Promise<Map<number, string>> {
  if (seqs.length === 0) return new Map()
  const rows = await execute(
    db,
    'select seq, hash from events where partnership_id = $1::uuid and seq = any($2::int[])',
    [partnershipId, `{${seqs.join(',')}}`]
  )
  return new Map(rows.map((r) => [Number(r.seq), String(r.hash)]))
}

/**
 * For each block of `$3` events wholly after seq $4 (a block's start) and at or below seq $2 (and present: a block missing events has fewer rows
 * and is left out), a SHA-256 over its stored rows, every column of each in an unambiguous text form (text
 * quoted as JSON, the time in microseconds since the epoch: no session setting changes it), with the MAC a
 * verification kept for it (null when none), and the block's first prev_hash and last hash (its links).
 */
export const BLOCK_DIGESTS = `select b.block, encode(b.digest, 'hex') as digest, b.first_prev_hash, b.last_hash, k.mac
  from (
    select (seq - 1) / $3::int as block,
      (array_agg(prev_hash order by seq))[1] as first_prev_hash, (array_agg(hash order by seq desc))[1] as last_hash,
      sha256(convert_to(string_agg(concat_ws(E'\\x1f', seq, to_json(type)::text, coalesce(actor_id::text, '-'),
        to_json(subject_type)::text, to_json(subject_id)::text, data::text, (extract(epoch from at) * 1000000)::bigint,
        coalesce(to_json(prev_hash)::text, '-'), to_json(hash)::text), E'\\x1e' order by seq), 'UTF8')) as digest
    from events where partnership_id = $1::uuid and seq > $4::int and seq <= $2::int
    group by 1 having count(*) = $3::int) b
  left join chain_blocks k on k.partnership_id = $1::uuid and k.block = b.block
  order by b.block`

export async function blockDigests(
  db: DbOrTx,
  partnershipId: string,
  after: number,
  upTo: number,
  blockSize: number
): Promise<BlockDigest[]> {
  const rows = await execute(db, BLOCK_DIGESTS, [partnershipId, upTo, blockSize, after])
  return rows.map((r) => ({
    block: Number(r.block),
    digest: String(r.digest),
    firstPrevHash: (r.first_prev_hash as string | null) ?? null,
    lastHash: String(r.last_hash),
    mac: (r.mac as string | null) ?? null
  }))
}

export interface BlockDigest {
  block: number
  digest: string
  firstPrevHash: string | null
  lastHash: string
  mac: string | null
}

/** Keeps the MACs of blocks found intact (replacing any older one: the newest verification's word stands). */
export async function keepBlockMacs(
  db: DbOrTx,
  partnershipId: string,
  macs: ReadonlyArray<{ block: number; mac: string }>,
  at: Date
): Promise<void> {
  if (macs.length === 0) return
  await db
    .insert(chainBlocks)
    .values(macs.map((m) => ({ partnershipId, block: m.block, mac: m.mac, verifiedAt: at })))
    .onConflictDoUpdate({
      target: [chainBlocks.partnershipId, chainBlocks.block],
      set: { mac: sql`excluded.mac`, verifiedAt: sql`excluded.verified_at` }
    })
}
