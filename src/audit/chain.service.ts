import { createHmac, timingSafeEqual } from 'node:crypto'
import type { DbOrTx } from '../db/client.ts'
import type { Deps } from '../deps.ts'
import { blockDigests, firstBreakInDatabase, keepBlockMacs } from './chain.repo.ts'
import * as repo from './event.repo.ts'
import { type ChainBreak, findChainBreak, toEventView } from './event.rules.ts'

/** Events PostgreSQL recomputes per statement: well inside the statement timeout even on a loaded machine. */
const RANGE = 10_000
/** Events Node checks itself, from one PostgreSQL was unsure of, before handing back. */
const NODE_BATCH = 1000
/** Events per block of the log whose intact state a verification remembers (chain.sql.ts). */
export const BLOCK = 1024

/**
 * The first broken link among seqs after+1..upTo of a partnership's chain, or null when they all recompute;
 * the link of event after+1 is checked against the stored hash at `after`. PostgreSQL recomputes every
 * event's hash where it is sure to write the JCS text hashEvent writes (in practice, every event the API
 * appends); from an event it is unsure of, Node recomputes a batch with findChainBreak, the rule a client
 * uses, and hands back. Memory stays bounded whatever the log's length.
 */
export async function firstChainBreak(
  db: DbOrTx,
  partnershipId: string,
  upTo: number,
  range = RANGE,
  after = 0
): Promise<ChainBreak | null> {
  let checked = after
  while (checked < upTo) {
    const to = Math.min(upTo, checked + range)
    const found = await firstBreakInDatabase(db, partnershipId, checked, to)
    if (found === null) {
      checked = to
      continue
    }
    if (found.reason !== 'unsure') return found
    const previous = { seq: found.seq - 1, hash: found.prevHash }
    const run = (await repo.listEvents(db, partnershipId, previous.seq, Math.min(NODE_BATCH, upTo - previous.seq))).map(
      toEventView
    )
    const broken = findChainBreak(run, previous)
    if (broken) return broken
    const last = run.at(-1)
    if (last === undefined) return { seq: found.seq, reason: 'seq-gap' } // gone since: cannot happen below the triggers
    checked = last.seq
  }
  return null
}

/**
 * The first broken link among seqs 1..upTo, as firstChainBreak finds it, without recomputing the blocks a
 * verification already found intact and whose stored rows are unchanged since: for each whole block,
 * PostgreSQL digests its stored rows (about 3 µs an event, against about 15 for the JCS recomputation), and
 * the block is trusted when its kept MAC, under the `audit` server secret, holds for that digest. Every other
 * block, the incomplete last one and the first event after each run of them (its link) are recomputed;
 * the whole blocks found intact get their MAC kept for the next time. A row changed in any way behind the
 * triggers changes its block's digest, so that block is recomputed and the change found as before.
 */
export async function verifiedChainBreak(
  deps: Pick<Deps, 'db' | 'serverSecrets' | 'now'>,
  partnershipId: string,
  upTo: number
): Promise<ChainBreak | null> {
  // In two statements at once when the log is long: PostgreSQL digests each on its own core.
  const whole = Math.floor(upTo / BLOCK)
  const half = whole >= 16 ? Math.floor(whole / 2) * BLOCK : 0
  const blocks = (
    await Promise.all([
      half > 0 ? blockDigests(deps.db, partnershipId, 0, half, BLOCK) : [],
      blockDigests(deps.db, partnershipId, half, upTo, BLOCK)
    ])
  ).flat()
  const macOf = (b: { block: number; digest: string }) =>
    createHmac('sha256', deps.serverSecrets.audit)
      .update(`accord audit block\n${partnershipId}\n${BLOCK}\n${b.block}\n${b.digest}`)
      .digest('hex')
  const trusted = new Set(blocks.filter((b) => b.mac !== null && sameMac(b.mac, macOf(b))).map((b) => b.block))

  // The runs of untrusted seqs, as (after, to]: each extended by the first event of the trusted block after
  // it, whose link to the run's last hash is part of the chain too.
  const runs: Array<[number, number]> = []
  let runStart: number | null = null
  for (let block = 0; block * BLOCK < upTo; block++) {
    const first = block * BLOCK
    if (!trusted.has(block)) runStart ??= first
    else if (runStart !== null) {
      runs.push([runStart, Math.min(upTo, first + 1)])
      runStart = null
    }
  }
  if (runStart !== null) runs.push([runStart, upTo])

  let broken: ChainBreak | null = null
  for (const [after, to] of runs) {
    broken = await firstChainBreak(deps.db, partnershipId, to, RANGE, after)
    if (broken) break
  }
  const intactThrough = broken ? broken.seq - 1 : upTo
  await keepBlockMacs(
    deps.db,
    partnershipId,
    blocks
      .filter((b) => !trusted.has(b.block) && (b.block + 1) * BLOCK <= intactThrough)
      .map((b) => ({ block: b.block, mac: macOf(b) })),
    deps.now()
  )
  return broken
}

const sameMac = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
