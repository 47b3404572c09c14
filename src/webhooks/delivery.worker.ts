import type { FastifyBaseLogger } from 'fastify'
import { closeAgents } from './delivery.sender.ts'
import {
  CLAIM_BATCH,
  CONCURRENCY,
  claimDeliveries,
  deliverOne,
  measureQueue,
  type WorkerDeps
} from './delivery.service.ts'

const MEASURE_EVERY_MS = 1000

/**
 * The delivery worker of this instance: keeps up to CONCURRENCY deliveries in flight, claiming more as
 * soon as there is room (so one slow receiver holds its own slots, not a whole batch); when a claim
 * finds fewer than asked, the queue is drained and it sleeps `intervalMs`. Every instance runs one: the
 * claims' SKIP LOCKED and leases keep each delivery one sender's.
 */
export function startDeliveryWorker(
  deps: WorkerDeps,
  log: FastifyBaseLogger,
  intervalMs: number
): { stop(): Promise<void> } {
  const inFlight = new Set<Promise<void>>()
  let stopped = false
  let wake: (() => void) | undefined
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })

  let measured = 0
  const measure = async () => {
    if (performance.now() - measured < MEASURE_EVERY_MS) return
    measured = performance.now()
    await measureQueue(deps).catch((err: unknown) => log.warn({ err }, 'counting pending webhook deliveries failed'))
  }
  const loop = async () => {
    while (!stopped) {
      await measure()
      const room = CONCURRENCY * 4 - inFlight.size
      if (room < CONCURRENCY) {
        await Promise.race(inFlight)
        continue
      }
      const ask = Math.min(room, CLAIM_BATCH)
      let claimed: Awaited<ReturnType<typeof claimDeliveries>>
      try {
        claimed = await claimDeliveries(deps, ask)
      } catch (err) {
        log.warn({ err }, 'claiming webhook deliveries failed; retrying')
        await sleep(intervalMs)
        continue
      }
      for (const one of claimed) {
        const p: Promise<void> = deliverOne(deps, one).then(
          () => undefined,
          (err: unknown) => log.warn({ err, deliveryId: one.delivery.id }, 'recording a webhook delivery failed')
        )
        inFlight.add(p)
        void p.finally(() => inFlight.delete(p))
      }
      if (claimed.length < ask && !stopped) await sleep(intervalMs)
    }
  }
  const running = loop()
  return {
    async stop() {
      stopped = true
      wake?.()
      await running
      await Promise.allSettled(inFlight)
      closeAgents()
    }
  }
}
