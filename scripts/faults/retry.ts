// After a crash a careful client retries what it is unsure of, with the same Idempotency-Key. The
// server must answer every retry of an acknowledged write with the first answer (status and body,
// marked Idempotent-Replayed), and run an unknown one at most once (a key still held by the dead
// process answers 409 idempotency-key-in-use until its lease lapses: we wait, then retry).
import { type Api, is2xx, isTransient, type Reply } from './client.ts'
import { type Attempt, alreadyDone, firstAck, type Op, outcomeOf, send } from './journal.ts'
import { note, type Tally, violate } from './tally.ts'
import { inPool, sleep } from './util.ts'

/** Retries until a definite answer, or gives up after `withinMs` (the lease of a dead process plus slack). */
async function untilDefinite(api: Api, op: Op, withinMs: number): Promise<Reply> {
  const deadline = Date.now() + withinMs
  for (;;) {
    const reply = await send(api, op)
    op.attempts.push({ ...reply, phase: 'retry' })
    if (!isTransient(reply) || Date.now() > deadline) return reply
    await sleep(reply.status === 409 ? 500 : 300)
  }
}

const describe = (op: Op, a: Attempt | Reply): string =>
  `${op.kind} by ${op.actor.sub} (${op.method} ${op.path}, key ${op.key ?? '—'}, cycle ${op.cycle}) → ${a.status ?? a.error}${'code' in a && a.code ? ` ${a.code}` : ''}`

/** The retry of an acknowledged key must be the first answer, replayed. */
async function replayAcknowledged(api: Api, tally: Tally, op: Op, withinMs: number): Promise<void> {
  const first = firstAck(op)!
  const again = await untilDefinite(api, op, withinMs)
  if (again.status !== first.status || !again.replayed || again.text !== first.text) {
    violate(
      tally,
      'idempotencyViolations',
      `retry of an acknowledged ${describe(op, first)} answered ${again.status ?? again.error}${again.replayed ? ' (replayed)' : ' (not replayed)'}${again.text !== first.text ? ', another body' : ''}`
    )
  }
}

/** An unknown write is retried until it answers (checks.ts then judges the attempts). */
async function resolveUnknown(api: Api, tally: Tally, op: Op, withinMs: number): Promise<void> {
  const reply = await untilDefinite(api, op, withinMs)
  if (isTransient(reply)) {
    tally.unresolved++
    return
  }
  if (!is2xx(reply) && !alreadyDone(op, reply)) {
    note(tally, `retry of an unknown ${op.kind} answered ${reply.status} ${reply.code}`)
  }
}

/**
 * Retries, with their own keys, every write of the cycle whose outcome the client does not know
 * (PATCH excepted: its If-Match makes a blind retry meaningless), and every acknowledged keyed
 * write of the cycle plus a sample of earlier ones (their stored answers must survive later crashes too).
 */
export async function retryAfterCrash(
  api: Api,
  tally: Tally,
  ops: readonly Op[],
  earlierAcked: readonly Op[],
  leaseMs: number
): Promise<{ unknown: number; replayed: number }> {
  const withinMs = leaseMs + 15_000
  const unknown = ops.filter((op) => outcomeOf(op) === 'unknown' && op.method !== 'PATCH')
  const acked = [...ops.filter((op) => op.key !== null && outcomeOf(op) === 'ack'), ...earlierAcked]
  // Unknown first: a retry that runs now may change what the acknowledged ones' checks read.
  await inPool(unknown, 16, (op) => resolveUnknown(api, tally, op, withinMs))
  await inPool(acked, 8, (op) => replayAcknowledged(api, tally, op, withinMs))
  return { unknown: unknown.length, replayed: acked.length }
}
