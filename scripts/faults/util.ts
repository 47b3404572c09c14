// Small pieces every part of the crash harness uses: progress on stderr, sleeping, seeded randomness, percentiles.

/** Human progress goes to stderr: stdout carries only the final JSON line, so a caller can parse it. */
export const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface Rng {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number
  pick<T>(xs: readonly T[]): T
}

/**
 * mulberry32: a tiny seeded generator, so the random choices of a run (kill moments, outage lengths,
 * lane mixes) repeat with its --seed. Timing still varies between runs: a seed reproduces the plan,
 * not the interleaving.
 */
export function rngOf(seed: number): Rng {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!
  }
}

/** Nearest-rank percentile (p in 0–100) of unsorted numbers; null for none. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

export const round = (x: number | null, digits = 0): number | null => (x === null ? null : Number(x.toFixed(digits)))

/** Runs fn over items with at most `width` at a time (the checks read a lot; the machine has 2 cores). */
export async function inPool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!)
    })
  )
}
