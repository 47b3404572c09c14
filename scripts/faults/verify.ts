// One check pass after a recovery: retry what the client is unsure of, then read everything the
// cycle touched back through the API and judge it, plus a sample of what earlier cycles touched.

import { checkActivations, checkChain } from './chain.ts'
import { checkAgreement, checkCreatorCopies, checkOp, checkPartnership } from './checks.ts'
import type { Api } from './client.ts'
import { firstAck, type Op } from './journal.ts'
import { retryAfterCrash } from './retry.ts'
import { note, type Tally } from './tally.ts'
import { inPool, type Rng } from './util.ts'
import { newView } from './view.ts'
import type { Registry } from './world.ts'

export interface CheckInput {
  api: Api
  tally: Tally
  registry: Registry
  rng: Rng
  /** The ops of this cycle. */
  ops: readonly Op[]
  /** Acknowledged keyed ops of earlier cycles, sampled for replay. */
  earlier: readonly Op[]
  /** How long a dead process's key stays claimed (2 × REQUEST_TIMEOUT_MS). */
  leaseMs: number
  /** Check every partnership ever touched (the last pass of a run), not a sample of the older ones. */
  everything?: boolean
}

const sample = <T>(rng: Rng, xs: readonly T[], n: number): T[] => {
  const pool = [...xs]
  const out: T[] = []
  while (out.length < n && pool.length > 0) out.push(pool.splice(Math.floor(rng.next() * pool.length), 1)[0]!)
  return out
}

export async function checkCycle(
  input: CheckInput
): Promise<{ unknown: number; replayed: number; partnerships: number }> {
  const { api, tally, registry, rng, ops } = input
  const earlierAcked = sample(
    rng,
    input.earlier.filter((op) => op.key !== null && firstAck(op)),
    20
  )
  const retried = await retryAfterCrash(api, tally, ops, earlierAcked, input.leaseMs)

  // Partnerships the client learned of only now (a create whose answer the kill cut, answered by its retry).
  for (const op of ops) {
    const id = op.kind === 'partnership.create' ? (firstAck(op)?.json.id as string | undefined) : undefined
    if (id && !registry.partnerships.has(id))
      registry.partnerships.set(id, { reader: op.actor, lastSeq: 0, lastHash: null })
  }
  const view = newView(api, registry)
  // …and any the server holds that the client never heard of at all (a create that ran and whose key then ran again).
  for (const creator of new Set(ops.filter((op) => op.kind === 'partnership.create').map((op) => op.actor))) {
    for (const p of (await view.partnershipsOf(creator)) ?? []) {
      if (!registry.partnerships.has(p.id))
        registry.partnerships.set(p.id, { reader: creator, lastSeq: 0, lastHash: null })
    }
  }

  const touched = new Set<string>()
  for (const op of ops) {
    const pid =
      op.ctx.partnershipId ??
      (op.kind === 'partnership.create' ? (firstAck(op)?.json.id as string | undefined) : undefined)
    if (pid && registry.partnerships.has(pid)) touched.add(pid)
  }
  const older = [...registry.partnerships.keys()].filter((pid) => !touched.has(pid))
  const chains = [...touched, ...(input.everything ? older : sample(rng, older, 30))]
  await inPool(chains, 6, async (pid) => {
    const events = await view.events(pid)
    const watched = registry.partnerships.get(pid)!
    if (!events) {
      if (!watched.broken) note(tally, `partnership ${pid} could not be read by its reader ${watched.reader.sub}`)
      return
    }
    if (await checkChain(api, tally, pid, watched, events)) checkActivations(tally, pid, events, registry.reported)
  })
  await inPool([...touched], 6, (pid) => checkPartnership(view, tally, pid))
  const agreements = new Map<string, string>()
  for (const op of ops) {
    const aid =
      op.ctx.agreementId ?? (op.kind === 'agreement.create' ? (firstAck(op)?.json.id as string | undefined) : undefined)
    if (aid && op.ctx.partnershipId) agreements.set(aid, op.ctx.partnershipId)
  }
  await inPool([...agreements], 6, ([aid, pid]) => checkAgreement(view, tally, pid, aid))
  await inPool(ops, 6, (op) => checkOp(view, tally, op))
  await checkCreatorCopies(view, tally, ops)
  return { ...retried, partnerships: chains.length }
}
