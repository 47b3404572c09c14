import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { PoolStats } from '../db/client.ts'

/**
 * The metrics of one app, in Prometheus's text format (prom-client). Every name starts with `accord_`.
 * Other capabilities add theirs through `counter()` and `gauge()`; the names already promised to later work are
 * in PLANNED_METRICS (README.md, "Metrics"), and none of them is registered before the thing it measures exists.
 */
export interface Metrics {
  /** Records one answered request: the route template (never the URL), method, status, seconds since routing. */
  observeRequest(method: string, route: string | undefined, status: number, seconds: number): void
  /** Records one pass of the scheduler: how it ended, how long it took, and what it did. */
  observeSchedulerRun(outcome: 'ok' | 'failed', seconds: number, done?: { opened: number; overdue: number }): void
  /** A new counter in this app's registry (name must start with `accord_`). */
  counter<L extends string>(options: MetricOptions<L>): Counter<L>
  /** A new gauge in this app's registry; `collect` may set it at scrape time (name must start with `accord_`). */
  gauge<L extends string>(options: MetricOptions<L> & { collect?: (gauge: Gauge<L>) => void }): Gauge<L>
  /** The exposition: this process's default metrics, then the app's. */
  render(): Promise<string>
  readonly contentType: string
}

export interface MetricOptions<L extends string> {
  name: `accord_${string}`
  help: string
  labelNames?: readonly L[]
}

/** Names kept for work still to come, so that it lands under them (README.md lists them with their labels). */
export const PLANNED_METRICS = [] as const

/** The label of every request that matched no route: one value, whatever the URL. */
export const UNMATCHED_ROUTE = '(unmatched)'

// Seconds. Most answers take well under 10 ms here (bench/README.md), so the low end is finer than prom-client's.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

let processRegistry: Registry | undefined
/** Default process metrics describe the process, not an app: collected once per process, whatever builds apps. */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry, prefix: 'accord_' })
  }
  return processRegistry
}

export function createMetrics(database: { pool(): PoolStats }): Metrics {
  const registry = new Registry()
  const own = <L extends string>(options: MetricOptions<L>) => {
    if (!/^accord_[a-z0-9_]+$/.test(options.name)) throw new Error(`metric ${options.name}: accord_[a-z0-9_]+`)
    return { ...options, labelNames: options.labelNames ?? [], registers: [registry] }
  }

  const duration = new Histogram({
    ...own({
      name: 'accord_http_request_duration_seconds',
      help: 'Time from routing to the end of the answer, by route template, method and status',
      labelNames: ['method', 'route', 'status_code']
    }),
    buckets: LATENCY_BUCKETS
  })
  // The count is the histogram's, copied at scrape time: one observation per request on the hot path, not two.
  new Counter({
    ...own({
      name: 'accord_http_requests_total',
      help: 'Answered requests, by route template, method and status',
      labelNames: ['method', 'route', 'status_code']
    }),
    async collect() {
      this.reset()
      for (const v of (await duration.get()).values)
        if (v.metricName === 'accord_http_request_duration_seconds_count')
          this.inc(v.labels as Record<'method' | 'route' | 'status_code', string>, v.value)
    }
  })
  // route template → method → status → the histogram's child: after the first request of a kind, no allocation
  // here. Bounded: templates and statuses are the app's own, methods those Node parses, unmatched URLs one label.
  const children = new Map<string, Map<string, Map<number, Histogram.Internal<string>>>>()
  const childOf = (method: string, route: string, status: number) => {
    let byMethod = children.get(route)
    if (byMethod === undefined) {
      byMethod = new Map()
      children.set(route, byMethod)
    }
    let byStatus = byMethod.get(method)
    if (byStatus === undefined) {
      byStatus = new Map()
      byMethod.set(method, byStatus)
    }
    let child = byStatus.get(status)
    if (child === undefined) {
      child = duration.labels({ method, route, status_code: String(status) })
      byStatus.set(status, child)
    }
    return child
  }

  const poolGauge = (name: `accord_${string}`, help: string, read: (s: PoolStats) => number) =>
    new Gauge({
      ...own({ name, help }),
      collect() {
        this.set(read(database.pool()))
      }
    })
  poolGauge('accord_db_pool_max', 'Connections this process may hold (DATABASE_POOL_MAX; 1 on PGlite)', (s) => s.max)
  poolGauge(
    'accord_db_pool_connections_in_use',
    'Connections running a statement or holding a transaction',
    (s) => s.inUse
  )
  poolGauge('accord_db_pool_waiting', 'Statements and transactions waiting for a connection', (s) => s.waiting)

  const runs = new Counter(
    own({ name: 'accord_scheduler_runs_total', help: 'Scheduler passes', labelNames: ['outcome'] })
  )
  runs.inc({ outcome: 'ok' }, 0)
  runs.inc({ outcome: 'failed' }, 0)
  const runSeconds = new Gauge(own({ name: 'accord_scheduler_last_run_seconds', help: 'How long the last pass took' }))
  const lastRun = new Gauge(
    own({
      name: 'accord_scheduler_last_run_timestamp_seconds',
      help: 'When the last pass ended',
      labelNames: ['outcome']
    })
  )
  const reviews = new Counter(
    own({
      name: 'accord_scheduler_reviews_total',
      help: 'Reviews the scheduler opened (their date passed) or marked overdue (7 days after)',
      labelNames: ['action']
    })
  )
  reviews.inc({ action: 'opened' }, 0)
  reviews.inc({ action: 'marked_overdue' }, 0)
  const due = new Gauge(
    own({
      name: 'accord_scheduler_due_reviews',
      help: 'Reviews the last pass found due: opened or marked overdue by it',
      labelNames: ['action']
    })
  )

  return {
    observeRequest(method, route, status, seconds) {
      childOf(method, route ?? UNMATCHED_ROUTE, status).observe(seconds)
    },
    observeSchedulerRun(outcome, seconds, done) {
      runs.inc({ outcome })
      runSeconds.set(seconds)
      lastRun.set({ outcome }, Date.now() / 1000)
      if (done === undefined) return
      reviews.inc({ action: 'opened' }, done.opened)
      reviews.inc({ action: 'marked_overdue' }, done.overdue)
      due.set({ action: 'opened' }, done.opened)
      due.set({ action: 'marked_overdue' }, done.overdue)
    },
    counter: (options) => new Counter(own(options)),
    gauge<L extends string>({ collect, ...options }: MetricOptions<L> & { collect?: (gauge: Gauge<L>) => void }) {
      const gauge: Gauge<L> = new Gauge<L>({
        ...own(options),
        ...(collect ? { collect: (): void => collect(gauge) } : {})
      })
      return gauge
    },
    async render() {
      return (await processMetrics().metrics()) + (await registry.metrics())
    },
    contentType: registry.contentType
  }
}
