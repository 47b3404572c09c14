import type { Deps } from '../deps.ts'
import { DomainError, type ErrorDetail } from '../errors.ts'
import { requireMembership } from '../partnerships/membership.service.ts'
import { hashesAt } from './chain.repo.ts'
import { verifiedChainBreak } from './chain.service.ts'
import {
  CHECKPOINT_TYP,
  type CheckpointClaims,
  CheckpointClaimsSchema,
  type CheckpointResult,
  checkpointClaims,
  firstDifference,
  type Head,
  judgeCheckpoints,
  type Presented
} from './checkpoint.rules.ts'
import * as repo from './event.repo.ts'

export interface Checkpoint extends CheckpointClaims {
  /** The compact JWS to keep: what POST …/audit/verify checks later. */
  checkpoint: string
  kid: string
}

/**
 * The log's head signed by the service key, for a caller already known to be a member (the certificate
 * signs one too). An empty log is attested as seq 0 with hash null. `at` is when it was signed.
 */
export async function signCheckpoint(
  deps: Pick<Deps, 'db' | 'keys' | 'config' | 'now'>,
  partnershipId: string
): Promise<Checkpoint> {
  const last = await repo.lastEvent(deps.db, partnershipId)
  const head: Head = last ?? { seq: 0, hash: null }
  const claims = checkpointClaims({ issuer: deps.config.publicUrl, partnershipId, head, at: deps.now() })
  return { checkpoint: await deps.keys.signJws(claims, CHECKPOINT_TYP), kid: deps.keys.kid, ...claims }
}

/** GET …/audit/checkpoint: the signed head of a member's partnership log. */
export async function issueCheckpoint(
  deps: Pick<Deps, 'db' | 'keys' | 'config' | 'now'>,
  input: { partnershipId: string; userId: string }
): Promise<Checkpoint> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  return signCheckpoint(deps, input.partnershipId)
}

export interface CheckpointVerification {
  partnershipId: string
  head: { seq: number; hash: string } | null
  /** The first seq at which the chain no longer recomputes, up to the greatest seq checked (null: intact). */
  chainBrokenAt: number | null
  results: CheckpointResult[]
  firstDifference: ReturnType<typeof firstDifference>
}

/**
 * POST …/audit/verify: checks kept checkpoints against the log as it is now. Each one's signature (any of
 * the service's keys, current or retired, by kid) and type; that it is of this partnership; that the
 * chain still recomputes from seq 1 up to its seq and holds its hash there (checkpoint.rules.ts says what
 * each answer claims). Text that is not a compact JWS at all is a 400.
 */
export async function verifyCheckpoints(
  deps: Pick<Deps, 'db' | 'keys' | 'serverSecrets' | 'now'>,
  input: { partnershipId: string; userId: string; checkpoints: readonly string[] }
): Promise<CheckpointVerification> {
  await requireMembership(deps.db, input.partnershipId, input.userId)
  const malformed: ErrorDetail[] = []
  const presented: Presented[] = []
  for (const [i, jws] of input.checkpoints.entries()) {
    const verified = await deps.keys.verifyJws(jws, CHECKPOINT_TYP)
    if (verified.ok) {
      const claims = CheckpointClaimsSchema.safeParse(verified.payload)
      presented.push(
        claims.success ? { kind: 'signed', kid: verified.kid, claims: claims.data } : { kind: 'not-a-checkpoint' }
      )
    } else if (verified.reason === 'malformed') {
      malformed.push({
        in: 'body',
        path: `/checkpoints/${i}`,
        message: 'is not a compact JWS (base64url JSON header and payload)'
      })
    } else presented.push({ kind: verified.reason === 'wrong-type' ? 'not-a-checkpoint' : 'bad-signature' })
  }
  if (malformed.length > 0)
    throw new DomainError('VALIDATION_FAILED', 'every checkpoint must be a compact JWS', { errors: malformed })

  const last = await repo.lastEvent(deps.db, input.partnershipId)
  const head: Head = last ?? { seq: 0, hash: null }
  const wanted = new Set(
    presented.flatMap((p) =>
      p.kind === 'signed' && p.claims.partnershipId === input.partnershipId ? [p.claims.seq] : []
    )
  )
  const upTo = Math.min(head.seq, Math.max(0, ...wanted))
  const walk = await recompute(deps, input.partnershipId, upTo, wanted)
  const results = judgeCheckpoints(presented, {
    partnershipId: input.partnershipId,
    head,
    intactThrough: walk.brokenAt === null ? head.seq : walk.brokenAt - 1,
    hashAt: walk.hashAt
  })
  return {
    partnershipId: input.partnershipId,
    head: last ?? null,
    chainBrokenAt: walk.brokenAt,
    results,
    firstDifference: firstDifference(results)
  }
}

/** Recomputes the chain from seq 1 to `upTo`: the first broken link, and the stored hashes at `wanted` below it. */
async function recompute(
  deps: Pick<Deps, 'db' | 'serverSecrets' | 'now'>,
  partnershipId: string,
  upTo: number,
  wanted: ReadonlySet<number>
): Promise<{ brokenAt: number | null; hashAt: Map<number, string> }> {
  const broken = upTo > 0 ? await verifiedChainBreak(deps, partnershipId, upTo) : null
  const intactThrough = broken ? broken.seq - 1 : upTo
  const hashAt = await hashesAt(
    deps.db,
    partnershipId,
    [...wanted].filter((seq) => seq >= 1 && seq <= intactThrough)
  )
  return { brokenAt: broken?.seq ?? null, hashAt }
}
