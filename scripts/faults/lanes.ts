// The concurrent clients of a cycle. Each lane is one small story played in a loop through the API,
// in partnerships of its own (so a lane's 409s and 412s are the ones it provokes on purpose, never
// another lane's), until the run says stop or something it did not expect happens.
import type { Actor } from './client.ts'
import { exec } from './journal.ts'
import { contentOf, join, type LaneEnv, ok, partnershipOf } from './world.ts'

type Lane = (env: LaneEnv, name: string) => Promise<void>

/**
 * Three partners; A proposes (a new agreement, or a new version with If-Match), B and C sign at the
 * same instant: the second signature activates the version, exactly once.
 */
const signOffs: Lane = async (env, name) => {
  const [a, b, c] = (await Promise.all(['a', 'b', 'c'].map((r) => env.newActor(`${name}-${r}`)))) as [
    Actor,
    Actor,
    Actor
  ]
  const pid = await partnershipOf(env, [a, b, c])
  if (!pid) return
  let current: { aid: string; number: number; hash: string } | null = null
  for (let round = 0; !env.stopping(); round++) {
    const tag = env.tag('v')
    if (!current || round % 4 === 0) {
      const { op, reply } = await exec(env, {
        kind: 'agreement.create',
        actor: a,
        method: 'POST',
        path: `/v1/partnerships/${pid}/agreements`,
        body: { content: contentOf(tag) },
        keyed: true,
        tag,
        ctx: { partnershipId: pid }
      })
      if (!ok(reply)) return env.note('agreement.create refused', op)
      current = { aid: reply.json.id, number: 1, hash: reply.json.proposal.contentHash }
    } else {
      const read = await env.api.request('GET', `/v1/partnerships/${pid}/agreements/${current.aid}`, { token: a.token })
      if (read.status !== 200) return
      const { op, reply } = await exec(env, {
        kind: 'version.propose',
        actor: a,
        method: 'POST',
        path: `/v1/partnerships/${pid}/agreements/${current.aid}/versions`,
        body: { basedOn: current.number, content: contentOf(tag) },
        ifMatch: read.etag,
        keyed: true,
        tag,
        ctx: { partnershipId: pid, agreementId: current.aid }
      })
      if (!ok(reply)) return env.note(`version.propose refused (${reply.status} ${reply.code})`, op)
      current = { aid: current.aid, number: reply.json.number, hash: reply.json.contentHash }
    }
    const { aid, number, hash } = current
    const signs = await Promise.all(
      [b, c].map((signer) =>
        exec(env, {
          kind: 'signature.create',
          actor: signer,
          method: 'POST',
          path: `/v1/partnerships/${pid}/agreements/${aid}/versions/${number}/signatures`,
          body: { contentHash: hash },
          keyed: true,
          ctx: { partnershipId: pid, agreementId: aid, number }
        })
      )
    )
    for (const s of signs)
      if (!ok(s.reply)) return env.note(`signature refused (${s.reply.status} ${s.reply.code})`, s.op)
    const activating = signs.filter((s) => s.reply.json.versionStatus === 'active').length
    if (activating !== 1)
      env.note(
        `${activating} of 2 concurrent last signatures answered versionStatus active (expected exactly 1)`,
        signs[0]!.op
      )
  }
}

/** Two partners and an active agreement; A opens an early review, both answer at once, the review closes (keep). */
const reviews: Lane = async (env, name) => {
  const [a, b] = (await Promise.all(['a', 'b'].map((r) => env.newActor(`${name}-${r}`)))) as [Actor, Actor]
  const pid = await partnershipOf(env, [a, b])
  if (!pid) return
  const tag = env.tag('r')
  const created = await exec(env, {
    kind: 'agreement.create',
    actor: a,
    method: 'POST',
    path: `/v1/partnerships/${pid}/agreements`,
    body: { content: contentOf(tag) },
    keyed: true,
    tag,
    ctx: { partnershipId: pid }
  })
  if (!ok(created.reply)) return
  const aid = created.reply.json.id as string
  const signed = await exec(env, {
    kind: 'signature.create',
    actor: b,
    method: 'POST',
    path: `/v1/partnerships/${pid}/agreements/${aid}/versions/1/signatures`,
    body: { contentHash: created.reply.json.proposal.contentHash },
    keyed: true,
    ctx: { partnershipId: pid, agreementId: aid, number: 1 }
  })
  if (!ok(signed.reply)) return
  while (!env.stopping()) {
    const opened = await exec(env, {
      kind: 'review.open',
      actor: a,
      method: 'POST',
      path: `/v1/partnerships/${pid}/agreements/${aid}/reviews`,
      keyed: true,
      ctx: { partnershipId: pid, agreementId: aid }
    })
    if (!ok(opened.reply))
      return env.note(`review.open refused (${opened.reply.status} ${opened.reply.code})`, opened.op)
    const rid = opened.reply.json.id as string
    const answers = await Promise.all(
      [a, b].map((who) => {
        const note = env.tag('n')
        return exec(env, {
          kind: 'review.respond',
          actor: who,
          method: 'PUT',
          path: `/v1/partnerships/${pid}/agreements/${aid}/reviews/${rid}/responses/me`,
          body: { outcome: 'keep', rating: 1 + (note.length % 5), note },
          tag: note,
          ctx: { partnershipId: pid, agreementId: aid, reviewId: rid }
        })
      })
    )
    for (const x of answers)
      if (!ok(x.reply)) return env.note(`review answer refused (${x.reply.status} ${x.reply.code})`, x.op)
  }
}

/** Two partners rename their partnership at the same instant, each with the ETag they read: one wins, the other gets 412. */
const renames: Lane = async (env, name) => {
  const [a, b] = (await Promise.all(['a', 'b'].map((r) => env.newActor(`${name}-${r}`)))) as [Actor, Actor]
  const pid = await partnershipOf(env, [a, b])
  if (!pid) return
  while (!env.stopping()) {
    const results = await Promise.all(
      [a, b].map(async (who) => {
        const read = await env.api.request('GET', `/v1/partnerships/${pid}`, { token: who.token })
        if (read.status !== 200) return false
        const tag = env.tag('n')
        const { op, reply } = await exec(env, {
          kind: 'partnership.rename',
          actor: who,
          method: 'PATCH',
          path: `/v1/partnerships/${pid}`,
          body: { name: tag },
          ifMatch: read.etag,
          tag,
          ctx: { partnershipId: pid }
        })
        if (ok(reply) || reply.status === 412) return true
        env.note(`rename refused (${reply.status} ${reply.code})`, op)
        return false
      })
    )
    if (results.includes(false)) return
  }
}

/** Two partners take in a third partner, or an observer both approved, who joins and then leaves. */
const invitations: Lane = async (env, name) => {
  const [a, b] = (await Promise.all(['a', 'b'].map((r) => env.newActor(`${name}-${r}`)))) as [Actor, Actor]
  const pid = await partnershipOf(env, [a, b])
  if (!pid) return
  for (let round = 0; !env.stopping(); round++) {
    const guest = await env.newActor(`${name}-g${round}`)
    const observer = round % 2 === 1
    if (!(await join(env, a, guest, pid, observer ? 'observer' : 'partner', observer ? [b, a] : []))) return
    const { op, reply } = await exec(env, {
      kind: 'member.leave',
      actor: guest,
      method: 'DELETE',
      path: `/v1/partnerships/${pid}/members/me`,
      ctx: { partnershipId: pid }
    })
    if (!ok(reply)) return env.note(`leave refused (${reply.status} ${reply.code})`, op)
  }
}

/** One user creating partnerships in a loop: a create retried after a crash must never leave two. */
const creations: Lane = async (env, name) => {
  const a = await env.newActor(`${name}-a`)
  env.registry.creators.add(a)
  while (!env.stopping()) {
    const tag = env.tag('p')
    const { op, reply } = await exec(env, {
      kind: 'partnership.create',
      actor: a,
      method: 'POST',
      path: '/v1/partnerships',
      body: { name: tag, timezone: 'Europe/Paris' },
      keyed: true,
      tag
    })
    if (!ok(reply)) return env.note(`partnership.create refused (${reply.status} ${reply.code})`, op)
    env.registry.partnerships.set(reply.json.id, { reader: a, lastSeq: 0, lastHash: null })
  }
}

const LANES: Record<string, Lane> = { signoffs: signOffs, reviews, renames, invitations, creations }

/**
 * Runs `perKind` lanes of every kind at once until env.stopping(). A lane that throws (a kill in the
 * middle of provisioning a user, say) simply ends; the journal holds what it sent.
 */
export async function runLanes(env: LaneEnv, perKind: number): Promise<void> {
  const running: Array<Promise<void>> = []
  for (const [kind, lane] of Object.entries(LANES)) {
    for (let i = 0; i < perKind; i++) {
      running.push(
        lane(env, `${kind}${i}`).catch((err: Error) => {
          if (!env.stopping()) env.note(`lane ${kind}${i} failed: ${err.message}`)
        })
      )
    }
  }
  await Promise.all(running)
}
