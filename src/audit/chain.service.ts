import { createHmac, timingSafeEqual } from 'node:crypto'
import type { DbOrTx } from '../db/client.ts'
import type { Deps } from '../deps.ts'
import { type BlockDigest, blockDigests, firstBreakInDatabase, keepBlockMacs } from './chain.repo.ts'
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

/** Whole blocks digested per statement: each statement stays far inside the statement timeout. */
const DIGEST_BLOCKS = 32

/**
 * The first broken link among seqs 1..upTo, as firstChainBreak finds it, without recomputing the blocks a
 * verification already found intact and whose stored rows are unchanged since: for each whole block,
 * PostgreSQL digests its stored rows (a few µs an event, against about 15 for the JCS recomputation), and
 * the block is trusted when its kept MAC, under the `audit` server secret, holds for that digest and its
 * first event links to the previous block's last hash as stored now (a MAC only says that a block was
 * consistent in itself; the links between blocks are checked on every verification). Every other block, the
 * incomplete last one and the first event after each run of them (its link) are recomputed. Digests and
 * recomputation read one snapshot (a read-only repeatable-read transaction), so the MACs kept afterwards, for
 * the whole blocks found intact, cover exactly the rows that were recomputed. A row changed in any way behind
 * the triggers changes its block's digest, so that block is recomputed and the change found as before.
 */
export async function verifiedChainBreak(
  deps: Pick<Deps, 'db' | 'serverSecrets' | 'now'>,
  partnershipId: string,
  upTo: number
): Promise<ChainBreak | null> {
  const macOf = (b: { block: number; digest: string }) =>
    createHmac('sha256', deps.serverSecrets.audit)
      .update(`accord audit block\n${partnershipId}\n${BLOCK}\n${b.block}\n${b.digest}`)
      .digest('hex')
  const { broken, intact } = await deps.db.transaction(
    async (tx) => {
      const blocks: BlockDigest[] = []
      for (let after = 0; after + BLOCK <= upTo; after += DIGEST_BLOCKS * BLOCK)
        blocks.push(
          ...(await blockDigests(tx, partnershipId, after, Math.min(upTo, after + DIGEST_BLOCKS * BLOCK), BLOCK))
        )
      const byBlock = new Map(blocks.map((b) => [b.block, b]))
      const trusted = new Set<number>()
      for (const b of blocks) {
        if (b.mac === null || !sameMac(b.mac, macOf(b))) continue
        // Linked to the block before as stored now; from a recomputed block, the recomputation checks the link.
        const before = byBlock.get(b.block - 1)
        const linked =
          b.block === 0
            ? b.firstPrevHash === null
            : before === undefined || !trusted.has(before.block) || b.firstPrevHash === before.lastHash
        if (linked) trusted.add(b.block)
      }
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
        broken = await firstChainBreak(tx, partnershipId, to, RANGE, after)
        if (broken) break
      }
      const intactThrough = broken ? broken.seq - 1 : upTo
      return {
        broken,
        intact: blocks.filter((b) => !trusted.has(b.block) && (b.block + 1) * BLOCK <= intactThrough)
      }
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' }
  )
  // A cache: when keeping fails (the partnership gone meanwhile, a read-only standby), the answer stands and
  // the next verification recomputes those blocks.
  await keepBlockMacs(
    deps.db,
    partnershipId,
    intact.map((b) => ({ block: b.block, mac: macOf(b) })),
    deps.now()
  ).catch(() => {})
  return broken
}

const sameMac = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
