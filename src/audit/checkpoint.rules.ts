import { z } from 'zod'

/** The JOSE `typ` of a checkpoint: never a receipt's (`accord-receipt+jws`), never a token's (`JWT`). */
export const CHECKPOINT_TYP = 'accord-checkpoint+jws'

/** The log's head a checkpoint attests: seq 0 and hash null for an empty log. */
export type Head = { seq: number; hash: string | null }

/** What a checkpoint says: the service (`iss`) saw the log of `partnershipId` end at `seq` with `hash` at time `at`. */
export const CheckpointClaimsSchema = z.object({
  iss: z.string(),
  partnershipId: z.uuid(),
  seq: z.int().min(0),
  hash: z.string().nullable(),
  at: z.iso.datetime({ offset: true })
})
export type CheckpointClaims = z.infer<typeof CheckpointClaimsSchema>

export function checkpointClaims(input: {
  issuer: string
  partnershipId: string
  head: Head
  at: Date
}): CheckpointClaims {
  return {
    iss: input.issuer,
    partnershipId: input.partnershipId,
    seq: input.head.seq,
    hash: input.head.hash,
    at: input.at.toISOString()
  }
}

/** A checkpoint as sent, once its signature and type were checked. */
export type Presented =
  | { kind: 'bad-signature' | 'not-a-checkpoint' }
  | { kind: 'signed'; kid: string; claims: CheckpointClaims }

/** The current log, as far as the checkpoints need it. */
export interface LogState {
  partnershipId: string
  head: Head
  /** The last seq up to which the chain recomputes from seq 1 (links and hashes); the head's seq when intact. */
  intactThrough: number
  /** The stored hash at each seq a checkpoint names (seqs past the head, or after a break, may be absent). */
  hashAt: ReadonlyMap<number, string>
}

export type CheckpointStatus =
  | 'ok'
  | 'bad-signature'
  | 'not-a-checkpoint'
  | 'other-partnership'
  | 'missing'
  | 'rewritten'

export interface CheckpointResult {
  index: number
  status: CheckpointStatus
  seq: number | null
  hash: string | null
  at: string | null
  kid: string | null
  /** The hash the log holds at `seq` now (null past the head, or when the checkpoint is not one of this log). */
  currentHash: string | null
  /** rewritten: the log differs from what this checkpoint proves at some seq in (differsAfter, differsAtOrBefore]. */
  differsAfter: number | null
  differsAtOrBefore: number | null
  /** rewritten: that seq, when the range is one seq wide. */
  firstDifferingSeq: number | null
}

/**
 * Judges each checkpoint against the current log. A checkpoint proves the hash at its seq, and the hash
 * commits to every event before it: it is `ok` when the chain recomputes intact up to its seq and the
 * hash there is the one it names; `missing` when the log is now shorter; else `rewritten`: some event at
 * or before its seq differs from what it saw. Which one a hash alone cannot tell; an `ok` checkpoint of
 * a lower seq, signed no later than this one, proves the events up to its seq unchanged since, which
 * narrows the range (assuming the log was not rewritten and then restored between the two signings).
 */
export function judgeCheckpoints(presented: readonly Presented[], log: LogState): CheckpointResult[] {
  const results = presented.map((p, index): CheckpointResult => {
    const none = { currentHash: null, differsAfter: null, differsAtOrBefore: null, firstDifferingSeq: null }
    if (p.kind !== 'signed') return { index, status: p.kind, seq: null, hash: null, at: null, kid: null, ...none }
    const { seq, hash, at } = p.claims
    const base = { index, seq, hash, at, kid: p.kid }
    if (p.claims.partnershipId !== log.partnershipId) return { ...base, status: 'other-partnership', ...none }
    if (seq > log.head.seq) return { ...base, status: 'missing', ...none }
    const currentHash = seq === 0 ? null : (log.hashAt.get(seq) ?? null)
    const ok = seq <= log.intactThrough && currentHash === hash
    return { ...base, status: ok ? 'ok' : 'rewritten', ...none, currentHash }
  })
  for (const r of results) {
    if (r.status !== 'rewritten') continue
    const seq = r.seq!
    const after = Math.max(
      0,
      ...results.filter((o) => o.status === 'ok' && o.seq! < seq && o.at! <= r.at!).map((o) => o.seq!)
    )
    r.differsAfter = after
    r.differsAtOrBefore = seq
    r.firstDifferingSeq = after + 1 === seq ? seq : null
  }
  return results
}

/** The narrowest range the rewritten checkpoints give (that of the lowest seq), or null when none is rewritten. */
export function firstDifference(
  results: readonly CheckpointResult[]
): { after: number; atOrBefore: number; seq: number | null } | null {
  const rewritten = results.filter((r) => r.status === 'rewritten')
  if (rewritten.length === 0) return null
  const lowest = rewritten.reduce((a, b) =>
    b.seq! < a.seq! || (b.seq === a.seq && b.differsAfter! > a.differsAfter!) ? b : a
  )
  return { after: lowest.differsAfter!, atOrBefore: lowest.differsAtOrBefore!, seq: lowest.firstDifferingSeq }
}
