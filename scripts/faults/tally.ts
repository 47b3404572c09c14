// What a run found. Counters of invariant violations (each must end at 0), the figures the JSON line
// reports, and a readable sentence per violation for stderr.
import { log } from './util.ts'

export interface Tally {
  /** Writes the client saw a 2xx for (first attempt or a retry with the same key). */
  acknowledgedWrites: number
  /** An acknowledged write missing after recovery. */
  lostWrites: number
  /** A version with more than one version.activated event, or two "you activated it" answers. */
  doubleActivations: number
  /** A chain that does not verify (server or client side), a gap, or a head that changed after it was seen. */
  brokenChains: number
  /** A key that ran twice, or a retry of an acknowledged key that did not return the first answer. */
  idempotencyViolations: number
  /** A request answered 5xx whose work was done anyway (SPEC: "a request that failed changed nothing"). */
  failedButApplied: number
  /** Answers 500 (or any 5xx but 503): a server defect whatever the load. */
  serverErrors: number
  /** Requests with no answer within the bound while the API was up. */
  hangs: number
  /** A database the amcheck extension finds damaged (indexes or heap). */
  corruption: number
  /** State that contradicts itself (an active version without its event, two active versions…). */
  inconsistencies: number
  /** The soak: an error, RSS growth over 10 % after warm-up, or a p99 that more than doubled. */
  soakFailures: number
  /** Unknown writes still without a definite answer after the retry phase. */
  unresolved: number
  violations: string[]
  /** What lanes did not expect but is not a violation by itself, with how often (reported, not failing the run). */
  notes: Record<string, number>
}

export type Counter = Exclude<keyof Tally, 'acknowledgedWrites' | 'unresolved' | 'violations' | 'notes'>

export const newTally = (): Tally => ({
  acknowledgedWrites: 0,
  lostWrites: 0,
  doubleActivations: 0,
  brokenChains: 0,
  idempotencyViolations: 0,
  failedButApplied: 0,
  serverErrors: 0,
  hangs: 0,
  corruption: 0,
  inconsistencies: 0,
  soakFailures: 0,
  unresolved: 0,
  violations: [],
  notes: {}
})

export function violate(tally: Tally, counter: Counter, text: string): void {
  tally[counter]++
  tally.violations.push(`${counter}: ${text}`)
  log(`  VIOLATION ${counter}: ${text}`)
}

export function note(tally: Tally, text: string): void {
  tally.notes[text] = (tally.notes[text] ?? 0) + 1
}

export const violationCount = (t: Tally): number =>
  t.lostWrites +
  t.doubleActivations +
  t.brokenChains +
  t.idempotencyViolations +
  t.failedButApplied +
  t.serverErrors +
  t.hangs +
  t.corruption +
  t.inconsistencies +
  t.soakFailures
