import { AsyncLocalStorage } from 'node:async_hooks'
import { DomainError } from '../errors.ts'
import type { Db, Tx } from './client.ts'
import { isDatabaseUnavailable } from './errors.ts'
import { collectTouched, wakeupsOf } from './wakeups.ts'

/** What the transaction door knows of the request whose work it commits. */
export interface WorkContext {
  /** The request was answered (it timed out) before its work committed: nothing of it may commit any more. */
  abandoned: boolean
  /** How many of the request's writes are between their last statement and the answer to their commit. */
  committing: number
  /** Some work of the request committed: an error from here on must not say that nothing changed. */
  committed: boolean
  /** Written in each of the request's transactions, before it commits (an Idempotency-Key's claim). */
  beforeCommit: ((tx: Tx) => Promise<void>) | null
}

const contexts = new AsyncLocalStorage<WorkContext>()

export const newWorkContext = (): WorkContext => ({
  abandoned: false,
  committing: 0,
  committed: false,
  beforeCommit: null
})

/** Runs `next` (the rest of a request) in `context`: every transaction it opens consults it. */
export function runInWorkContext(context: WorkContext, next: () => void): void {
  contexts.run(context, next)
}

/** Registers `hook` to be written in every transaction the current request opens from now on. */
export function commitWith(hook: (tx: Tx) => Promise<void>): void {
  const context = contexts.getStore()
  if (context) context.beforeCommit = hook
}

/** The connection failed while a commit was on its way: the database may or may not have applied it. */
const outcomeUnknown = (cause: unknown): DomainError =>
  new DomainError(
    'OUTCOME_UNKNOWN',
    'the database went away while your change was being saved: it may or may not have been saved; retry with the same Idempotency-Key to find out, or read the resource',
    { cause }
  )

const abandoned = (): DomainError =>
  new DomainError(
    'TIMED_OUT',
    'the request took too long and was abandoned before its work was saved: nothing changed; retry shortly'
  )

/**
 * Runs a write that commits on its own (a single statement outside a transaction): refused once the request
 * was abandoned, and counted as committing while it runs, so the request's deadline waits for its answer.
 */
export async function committingWrite<T>(write: () => Promise<T>): Promise<T> {
  const context = contexts.getStore()
  if (context?.abandoned) throw abandoned()
  if (context) context.committing++
  try {
    const result = await write()
    if (context) context.committed = true
    return result
  } catch (err) {
    throw isDatabaseUnavailable(err) ? outcomeUnknown(err) : err
  } finally {
    if (context) context.committing--
  }
}

/**
 * The one way a use case opens a transaction. When a request is behind it,
 * it commits only if the request was not abandoned meanwhile (a request that
 * was answered 503 changes nothing), with whatever the request registered to
 * be written with it: that is how an Idempotency-Key's claim is marked done
 * in the transaction that did the work, so a retry after a crash between the
 * commit and the recorded answer knows the work was done.
 * Once it committed, the live streams of every partnership whose log it
 * appended to are woken (db/wakeups.ts): after the commit, never inside it.
 */
export async function transaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  const context = contexts.getStore()
  let counted = false
  let touched: Set<string> | undefined
  try {
    const result = await db.transaction(async (tx) => {
      touched = collectTouched(tx)
      const done = await work(tx)
      if (context === undefined) return done
      if (context.abandoned) throw abandoned()
      await context.beforeCommit?.(tx)
      if (context.abandoned) throw abandoned()
      context.committing++
      counted = true
      return done
    })
    if (context) context.committed = true
    if (touched !== undefined && touched.size > 0) {
      const wakeups = wakeupsOf(db)
      for (const pid of touched) wakeups?.send(pid)
    }
    return result
  } catch (err) {
    // Past its last statement the transaction was committing: a lost connection leaves the outcome unknown.
    throw counted && isDatabaseUnavailable(err) ? outcomeUnknown(err) : err
  } finally {
    if (counted) context!.committing--
  }
}
