// The client-side record of every write: what was sent (with its Idempotency-Key), every attempt,
// and what came back. The checks after a crash judge the server against this record only, as a
// client would: what it was told, not what the database happens to hold.
import { randomUUID } from 'node:crypto'
import { type Actor, type Api, is2xx, isTransient, type Reply } from './client.ts'
import { sleep } from './util.ts'

export type Kind =
  | 'partnership.create'
  | 'partnership.rename'
  | 'invitation.create'
  | 'invitation.approve'
  | 'invitation.accept'
  | 'member.leave'
  | 'agreement.create'
  | 'version.propose'
  | 'signature.create'
  | 'review.open'
  | 'review.respond'

/** The ids a check needs to find the write again. */
export interface OpContext {
  partnershipId?: string
  agreementId?: string
  number?: number
  reviewId?: string
  invitationId?: string
}

export interface Attempt extends Reply {
  phase: 'load' | 'retry'
}

export interface Op {
  readonly n: number
  readonly cycle: string
  readonly kind: Kind
  readonly actor: Actor
  readonly method: string
  readonly path: string
  readonly body: unknown
  /** Every POST carries one; PUT, PATCH and DELETE do not take one (SPEC §4.1). */
  readonly key: string | null
  readonly ifMatch: string | null
  /** A value unique to this op written into the resource (a name, a title, a note, an expiry), to count its copies. */
  readonly tag: string | null
  readonly ctx: OpContext
  readonly attempts: Attempt[]
}

export interface OpSpec {
  kind: Kind
  actor: Actor
  method: string
  path: string
  body?: unknown
  keyed?: boolean
  ifMatch?: string | null
  tag?: string | null
  ctx?: OpContext
}

export interface Journal {
  readonly ops: Op[]
}

export const firstAck = (op: Op): Attempt | undefined => op.attempts.find(is2xx)

/** Problem codes that, answering a repeat of this op, say an earlier attempt (or a rival) already did the work: a retry ending so is not "unexpected". */
const DONE: Partial<Record<Kind, readonly string[]>> = {
  'signature.create': ['already-signed', 'version-not-open'],
  'invitation.accept': ['invitation-used', 'already-member'],
  'invitation.approve': ['already-approved'],
  'review.open': ['review-open'],
  'version.propose': ['precondition-failed', 'proposal-open'],
  'partnership.rename': ['precondition-failed'],
  'member.leave': ['not-found'],
  'review.respond': ['review-closed']
}
export const alreadyDone = (op: Op, r: Reply): boolean => r.code !== null && (DONE[op.kind]?.includes(r.code) ?? false)

/** ack: some attempt got a 2xx; rejected: a definite refusal; unknown: no answer, or only transient ones. */
export function outcomeOf(op: Op): 'ack' | 'rejected' | 'unknown' {
  if (firstAck(op)) return 'ack'
  const last = op.attempts.at(-1)
  return !last || isTransient(last) || last.status! >= 500 ? 'unknown' : 'rejected'
}

export interface ExecEnv {
  readonly api: Api
  readonly journal: Journal
  readonly cycle: string
  /** The run is winding down (or the API is about to be killed): give up instead of retrying. */
  stopping(): boolean
  /**
   * Retry through outages: on, a lane keeps retrying a transient failure with the same key (the
   * PostgreSQL outages, where the API stays up); off, a request the kill cut stays unknown.
   */
  readonly persistent: boolean
}

/** Sends a write, recording every attempt; retries transient failures with the same Idempotency-Key as a careful client does. */
export async function exec(env: ExecEnv, spec: OpSpec): Promise<{ op: Op; reply: Reply }> {
  const op: Op = {
    n: env.journal.ops.length,
    cycle: env.cycle,
    kind: spec.kind,
    actor: spec.actor,
    method: spec.method,
    path: spec.path,
    body: spec.body,
    key: spec.keyed ? randomUUID() : null,
    ifMatch: spec.ifMatch ?? null,
    tag: spec.tag ?? null,
    ctx: { ...spec.ctx },
    attempts: []
  }
  env.journal.ops.push(op)
  for (let attempt = 0; ; attempt++) {
    const reply = await send(env.api, op)
    op.attempts.push({ ...reply, phase: 'load' })
    if (!isTransient(reply)) return { op, reply }
    if (env.stopping() || (!env.persistent && reply.status === null)) return { op, reply }
    await sleep(reply.status === 409 ? 1000 : Math.min(100 * 2 ** attempt, 1000))
  }
}

/** One attempt of an op, exactly as first sent (same key, body and If-Match). */
export const send = (api: Api, op: Op): Promise<Reply> =>
  api.request(op.method, op.path, { token: op.actor.token, body: op.body, key: op.key, ifMatch: op.ifMatch })
