// bench:scale's side-by-side comparison: the same statements, and the same GETs, timed on a copy of the
// 10,000-agreement database and on the one grown to 1,000,000, every parameter set on both back to back
// (alternating which goes first) after an untimed pass over both, in rounds. Timed one after the other, minutes
// apart, the two sizes also measure the machine's drift, which moved these sub-millisecond figures by up to 2×.
import type { Sql } from 'postgres'
import { median } from './common.ts'

/** A figure at both sizes in one round. */
type Pair = { small: number; large: number }
export type SideBySide = Record<string, { small_p50_ms: number; large_p50_ms: number; ratio: number }>

const ratios = (r: Record<string, Pair>) =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${(v.large / v.small).toFixed(2)}×`)
    .join(', ')

/** Per figure: the median over the rounds at each size, and the median of the rounds' own ratios. */
function summary(rounds: Array<Record<string, Pair>>): SideBySide {
  return Object.fromEntries(
    Object.keys(rounds[0] ?? {}).map((name) => [
      name,
      {
        small_p50_ms: Number(median(rounds.map((r) => r[name]!.small)).toFixed(3)),
        large_p50_ms: Number(median(rounds.map((r) => r[name]!.large)).toFixed(3)),
        ratio: Number(median(rounds.map((r) => r[name]!.large / r[name]!.small)).toFixed(2))
      }
    ])
  )
}

/**
 * `rounds` rounds of: for each figure, `warm` untimed then `timed` timed runs of `run(side, k)` on both sides
 * (k the run's index), the p50 of each side.
 */
async function compare(
  label: string,
  names: string[],
  o: { rounds: number; warm: number; timed: number; log: (s: string) => void },
  run: (name: string, side: keyof Pair, k: number) => Promise<number>
): Promise<SideBySide> {
  const all: Array<Record<string, Pair>> = []
  for (let round = 1; round <= o.rounds; round++) {
    const r: Record<string, Pair> = {}
    for (const name of names) {
      const times: Record<keyof Pair, number[]> = { small: [], large: [] }
      for (let k = -o.warm; k < o.timed; k++) {
        const index = k < 0 ? k + o.warm : k % o.warm
        for (const side of k % 2 === 0 ? (['small', 'large'] as const) : (['large', 'small'] as const)) {
          const ms = await run(name, side, index)
          if (k >= 0) times[side].push(ms)
        }
      }
      r[name] = { small: median(times.small), large: median(times.large) }
    }
    all.push(r)
    o.log(`${label}, round ${round}: ${ratios(r)}`)
  }
  return summary(all)
}

/** Each statement's own execution time in the server (EXPLAIN ANALYZE), 200 parameter sets, 400 timed runs a round. */
export function statementsSideBySide(
  clients: Record<keyof Pair, Sql>,
  statements: Record<string, [text: string, paramsOf: (k: number) => unknown[]]>,
  o: { rounds: number; log: (s: string) => void }
): Promise<SideBySide> {
  return compare('side by side', Object.keys(statements), { ...o, warm: 200, timed: 400 }, async (name, side, k) => {
    const [text, paramsOf] = statements[name]!
    const [plan] = await clients[side].unsafe(`explain (analyze, format json) ${text}`, paramsOf(k) as never[])
    return (plan!['QUERY PLAN'] as Array<{ 'Execution Time': number }>)[0]!['Execution Time']
  })
}

/** Each GET through HTTP, one at a time, the client's clock: 200 readers, 1,000 timed GETs a round; any non-200 throws. */
export function routesSideBySide<R extends { auth: string }>(
  bases: Record<keyof Pair, string>,
  routes: Record<string, (r: R) => string>,
  readers: readonly R[],
  o: { rounds: number; log: (s: string) => void }
): Promise<SideBySide> {
  return compare(
    'side by side through HTTP',
    Object.keys(routes),
    { ...o, warm: 200, timed: 1000 },
    async (name, side, k) => {
      const reader = readers[k % readers.length]!
      const t0 = performance.now()
      const res = await fetch(`${bases[side]}${routes[name]!(reader)}`, { headers: { authorization: reader.auth } })
      await res.arrayBuffer()
      const ms = performance.now() - t0
      if (res.status !== 200) throw new Error(`${name} on the ${side} database answered ${res.status}`)
      return ms
    }
  )
}
