// What the lanes of a cycle share: their users, the partnerships they set up through the API, and
// the registry of every partnership a run touched (each with a member who can read it back later).
import { type Actor, type Api, isTransient, type Reply } from './client.ts'
import { type ExecEnv, exec, type Journal, type Op } from './journal.ts'
import { note, type Tally } from './tally.ts'
import type { Rng } from './util.ts'

export interface Watched {
  /** A member who never leaves: the checks read the partnership as them. */
  readonly reader: Actor
  /** The chain head the last check saw: it must still be there, unchanged, at every later check. */
  lastSeq: number
  lastHash: string | null
  /** Found broken once: reported then, not again at every later check. */
  broken?: boolean
}

export interface Registry {
  readonly partnerships: Map<string, Watched>
  /** Users whose every partnership the checks list (the create lane's), to count copies by name. */
  readonly creators: Set<Actor>
  /** Double activations already reported (agreement#number#count), so a later check does not count them again. */
  readonly reported: Set<string>
}

export const newRegistry = (): Registry => ({ partnerships: new Map(), creators: new Set(), reported: new Set() })

export interface LaneEnv extends ExecEnv {
  readonly rng: Rng
  readonly registry: Registry
  /** A fresh user of this run (unique sub). */
  newActor(role: string): Promise<Actor>
  /** A fresh value no other op of the run uses. */
  tag(prefix: string): string
  /** A fresh invitation expiry: unique to the millisecond, so it identifies its invitation in the log. */
  expiry(): string
  /** Something the lane did not expect (not necessarily a defect: the report lists them). */
  note(what: string, op?: Op): void
}

export const ok = (r: Reply): boolean => r.status !== null && r.status >= 200 && r.status < 300

/** Agreement content whose title and note carry the op's tag. */
export const contentOf = (tag: string) => ({
  title: tag,
  category: 'other',
  clauses: [
    { key: 'talk-first', text: `We talk first (${tag}).`, consequences: ['We talk it through within 48 hours.'] }
  ],
  review: { rrule: 'FREQ=MONTHLY;BYMONTHDAY=1', time: '19:00' },
  note: tag
})

/** A partnership created by members[0], the others joining as partners by invitation; null if any step failed. */
export async function partnershipOf(env: LaneEnv, members: Actor[]): Promise<string | null> {
  const [creator, ...others] = members
  const tag = env.tag('p')
  const { reply } = await exec(env, {
    kind: 'partnership.create',
    actor: creator!,
    method: 'POST',
    path: '/v1/partnerships',
    body: { name: tag, timezone: 'Europe/Paris' },
    keyed: true,
    tag
  })
  if (!ok(reply)) return null
  const pid = reply.json.id as string
  env.registry.partnerships.set(pid, { reader: creator!, lastSeq: 0, lastHash: null })
  for (const member of others) {
    if (!(await join(env, creator!, member, pid, 'partner'))) return null
  }
  return pid
}

/** The inviter invites, the invitee accepts (observers need every partner's approval first: `approvers`). */
export async function join(
  env: LaneEnv,
  inviter: Actor,
  invitee: Actor,
  pid: string,
  role: 'partner' | 'observer',
  approvers: Actor[] = []
): Promise<boolean> {
  const expiresAt = env.expiry()
  const created = await exec(env, {
    kind: 'invitation.create',
    actor: inviter,
    method: 'POST',
    path: `/v1/partnerships/${pid}/invitations`,
    body: { role, expiresAt },
    keyed: true,
    tag: expiresAt,
    ctx: { partnershipId: pid }
  })
  if (!ok(created.reply)) return false
  const iid = created.reply.json.id as string
  for (const approver of approvers) {
    const approved = await exec(env, {
      kind: 'invitation.approve',
      actor: approver,
      method: 'POST',
      path: `/v1/partnerships/${pid}/invitations/${iid}/approvals`,
      keyed: true,
      ctx: { partnershipId: pid, invitationId: iid }
    })
    if (!ok(approved.reply)) return false
  }
  const accepted = await exec(env, {
    kind: 'invitation.accept',
    actor: invitee,
    method: 'POST',
    path: '/v1/invitations/accept',
    body: { token: created.reply.json.token },
    keyed: true,
    ctx: { partnershipId: pid, invitationId: iid }
  })
  return ok(accepted.reply)
}

let counter = 0
const expiryBase = Math.floor((Date.now() + 7 * 24 * 3600 * 1000) / 1000) * 1000

/** The environment of one cycle's lanes; stop() makes every lane wind down. */
export function newLaneEnv(o: {
  api: Api
  journal: Journal
  registry: Registry
  rng: Rng
  tally: Tally
  runId: string
  cycle: string
  persistent: boolean
}): LaneEnv & { stop(): void } {
  let stopped = false
  return {
    api: o.api,
    journal: o.journal,
    registry: o.registry,
    rng: o.rng,
    cycle: o.cycle,
    persistent: o.persistent,
    stopping: () => stopped,
    stop: () => {
      stopped = true
    },
    newActor: (role) => o.api.actor(`${o.runId}-${o.cycle}-${role}`),
    tag: (prefix) => `${o.runId}-${o.cycle}-${prefix}${counter++}`,
    expiry: () => new Date(expiryBase + counter++).toISOString(),
    note(what, op) {
      // A request the kill (or the outage) cut is the experiment, not something unexpected.
      const last = op?.attempts.at(-1)
      if (last && (last.status === null || (isTransient(last) && this.stopping()))) return
      note(o.tally, what)
    }
  }
}
